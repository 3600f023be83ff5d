//! Decisions: every resource, exact vs prefix, longest prefix, merging,
//! defaults, identities, key list and write-prefix, intentions,
//! management, denial texts.

use crate::acl::parse;
use crate::acl::permission_denied;
use crate::acl::Access;
use crate::acl::Access::List;
use crate::acl::Access::Read;
use crate::acl::Access::Write;
use crate::acl::Authorizer;
use crate::acl::Decision;
use crate::acl::DefaultPolicy;
use crate::acl::NodeIdentity;
use crate::acl::Resource;
use crate::acl::Rules;
use crate::acl::ServiceIdentity;
use crate::acl::ACL_NOT_FOUND;
use crate::acl::ANONYMOUS_TOKEN_ID;

fn authz(policies: &[&str], default: DefaultPolicy) -> Authorizer {
    let rules: Vec<Rules> = policies.iter().map(|text| parse(text).unwrap()).collect();
    Authorizer::new(&rules, default)
}

/// (resource, name, access, allowed?) against one authorizer.
fn expect(a: &Authorizer, cases: &[(Resource, &str, Access, bool)]) {
    for (resource, name, access, want) in cases {
        let got = a.allowed(*resource, name, *access).is_allowed();
        assert_eq!(got, *want, "{resource}:{access} on {name:?}");
    }
}

/// Each named resource: exact over prefix, longest prefix, default below.
#[test]
fn named_resources_exact_and_longest_prefix() {
    for (resource, exact, prefix) in [
        (Resource::Agent, "agent", "agent_prefix"),
        (Resource::Event, "event", "event_prefix"),
        (Resource::Key, "key", "key_prefix"),
        (Resource::Node, "node", "node_prefix"),
        (Resource::Query, "query", "query_prefix"),
        (Resource::Service, "service", "service_prefix"),
        (Resource::Session, "session", "session_prefix"),
    ] {
        let text = format!(
            "{prefix} \"\" {{ policy = \"read\" }}\n{prefix} \"web\" {{ policy = \"write\" }}\n{prefix} \"web-\" {{ policy = \"deny\" }}\n{exact} \"web-1\" {{ policy = \"read\" }}\n{exact} \"x\" {{ policy = \"deny\" }}"
        );
        let a = authz(&[&text], DefaultPolicy::Allow);
        expect(
            &a,
            &[
                (resource, "other", Read, true),
                (resource, "other", Write, false),
                (resource, "web", Write, true),
                (resource, "webby", Write, true),
                (resource, "web-2", Read, false),
                (resource, "web-1", Read, true),
                (resource, "web-1", Write, false),
                (resource, "x", Read, false),
                (resource, "xy", Read, true),
                (resource, "", Read, true),
            ],
        );
    }
}

/// An exact rule applies to that name only, not to longer ones.
#[test]
fn exact_is_not_a_prefix() {
    let a = authz(&[r#"service "web" { policy = "write" }"#], DefaultPolicy::Deny);
    expect(
        &a,
        &[
            (Resource::Service, "web", Write, true),
            (Resource::Service, "web1", Read, false),
            (Resource::Service, "we", Read, false),
        ],
    );
}

#[test]
fn scalars_and_mesh_peering_fall_back_to_operator() {
    let a = authz(&[r#"operator = "read""#], DefaultPolicy::Deny);
    expect(
        &a,
        &[
            (Resource::Operator, "", Read, true),
            (Resource::Operator, "", Write, false),
            (Resource::Mesh, "", Read, true),
            (Resource::Mesh, "", Write, false),
            (Resource::Peering, "", Read, true),
            (Resource::Keyring, "", Read, false),
            (Resource::Acl, "", Read, false),
        ],
    );
    let a = authz(
        &["operator = \"write\"\nmesh = \"deny\"\npeering = \"read\"\nkeyring = \"read\"\nacl = \"read\""],
        DefaultPolicy::Allow,
    );
    expect(
        &a,
        &[
            (Resource::Operator, "", Write, true),
            (Resource::Mesh, "", Read, false),
            (Resource::Peering, "", Read, true),
            (Resource::Peering, "", Write, false),
            (Resource::Keyring, "", Read, true),
            (Resource::Keyring, "", Write, false),
            (Resource::Acl, "", Read, true),
            (Resource::Acl, "", Write, false),
        ],
    );
}

/// No rule: the default decides, but `allow` never grants ACL management.
#[test]
fn defaults() {
    let allow = Authorizer::default_only(DefaultPolicy::Allow);
    let deny = Authorizer::default_only(DefaultPolicy::Deny);
    for resource in Resource::ALL {
        for access in [Read, List, Write] {
            let want_allow = resource != Resource::Acl;
            assert_eq!(allow.allowed(resource, "x", access).is_allowed(), want_allow, "{resource}:{access}");
            assert_eq!(deny.allowed(resource, "x", access), Decision::Deny, "{resource}:{access}");
        }
    }
    assert!(allow.key_write_prefix("a/").is_allowed());
    assert!(!deny.key_write_prefix("a/").is_allowed());
    // A token's rule for one name leaves others to the default.
    let a = authz(&[r#"service "web" { policy = "read" }"#], DefaultPolicy::Allow);
    expect(&a, &[(Resource::Service, "db", Write, true), (Resource::Service, "web", Write, false)]);
    assert_eq!(DefaultPolicy::from_config("deny"), Ok(DefaultPolicy::Deny));
    assert_eq!(DefaultPolicy::from_config("x").unwrap_err(), "Unsupported default ACL policy: x");
}

/// Several policies: the same key keeps the strongest (deny > write >
/// list > read); different keys do not merge.
#[test]
fn merge_across_policies() {
    let a = authz(
        &[
            "service_prefix \"\" { policy = \"write\" }\nkey \"k\" { policy = \"read\" }\noperator = \"read\"",
            "service_prefix \"\" { policy = \"read\" }\nkey \"k\" { policy = \"list\" }\noperator = \"write\"",
            "service \"web\" { policy = \"deny\" }\nkey_prefix \"k\" { policy = \"deny\" }",
        ],
        DefaultPolicy::Deny,
    );
    expect(
        &a,
        &[
            (Resource::Service, "db", Write, true),
            (Resource::Service, "web", Read, false),
            (Resource::Key, "k", List, true),
            (Resource::Key, "k", Write, false),
            (Resource::Key, "kk", Read, false),
            (Resource::Operator, "", Write, true),
        ],
    );
    // Deny at the same key wins whichever policy gives it, in any order.
    for order in [["a", "b"], ["b", "a"]] {
        let texts: Vec<&str> = order
            .iter()
            .map(|p| if *p == "a" { r#"node "n" { policy = "write" }"# } else { r#"node "n" { policy = "deny" }"# })
            .collect();
        let a = authz(&texts, DefaultPolicy::Allow);
        expect(&a, &[(Resource::Node, "n", Read, false)]);
    }
}

#[test]
fn key_list_semantics() {
    let a = authz(
        &["key_prefix \"app/\" { policy = \"list\" }\nkey_prefix \"app/secret/\" { policy = \"read\" }\nkey \"app/w\" { policy = \"write\" }"],
        DefaultPolicy::Deny,
    );
    expect(
        &a,
        &[
            (Resource::Key, "app/", List, true),
            (Resource::Key, "app/x", Read, true),
            (Resource::Key, "app/x", Write, false),
            (Resource::Key, "app/secret/", List, false),
            (Resource::Key, "app/secret/y", Read, true),
            (Resource::Key, "app/w", List, true),
            (Resource::Key, "app/w", Write, true),
            (Resource::Key, "other", List, false),
        ],
    );
}

#[test]
fn key_write_prefix() {
    let a = authz(
        &["key_prefix \"\" { policy = \"write\" }\nkey_prefix \"ro/\" { policy = \"read\" }\nkey \"app/lock\" { policy = \"read\" }"],
        DefaultPolicy::Deny,
    );
    for (prefix, want) in [
        ("app/", false), // app/lock under it is read only
        ("app/l", false),
        ("app/x", true),
        ("ro/", false),  // covered by a read prefix
        ("ro/a", false), // ditto
        ("other/", true),
        ("", false), // everything: ro/ and app/lock are under it
    ] {
        assert_eq!(a.key_write_prefix(prefix).is_allowed(), want, "{prefix:?}");
    }
    // No covering prefix rule: the default decides, unless a rule under it
    // is below write.
    let a = authz(&[r#"key "a/b" { policy = "write" }"#, r#"key "c/d" { policy = "read" }"#], DefaultPolicy::Allow);
    assert!(a.key_write_prefix("a/").is_allowed());
    assert!(!a.key_write_prefix("c/").is_allowed());
    let a = authz(&[r#"key "a/b" { policy = "write" }"#], DefaultPolicy::Deny);
    assert!(!a.key_write_prefix("a/").is_allowed());
}

#[test]
fn intentions() {
    let a = authz(
        &[r#"
        service_prefix "" { policy = "read" }
        service "web" {
          policy = "read"
          intentions = "write"
        }
        service "db" { policy = "write" }
        service "secret" { policy = "deny" }
        service "ops" {
          policy = "deny"
          intentions = "read"
        }
        "#],
        DefaultPolicy::Deny,
    );
    expect(
        &a,
        &[
            (Resource::Intention, "web", Write, true),
            (Resource::Service, "web", Write, false),
            (Resource::Intention, "db", Read, true),
            (Resource::Intention, "db", Write, false), // service write alone reads intentions
            (Resource::Intention, "secret", Read, false),
            (Resource::Intention, "ops", Read, true),
            (Resource::Service, "ops", Read, false),
            (Resource::Intention, "anything", Read, true),
            // `*`: read needs one rule to allow, write every rule.
            (Resource::Intention, "*", Read, true),
            (Resource::Intention, "*", Write, false),
        ],
    );
    let a = authz(&[r#"service_prefix "" { policy = "write" intentions = "write" }"#], DefaultPolicy::Deny);
    expect(&a, &[(Resource::Intention, "*", Write, true), (Resource::Intention, "x", Write, true)]);
    // No service rules: `*` goes to the default.
    let a = authz(&[r#"node_prefix "" { policy = "write" }"#], DefaultPolicy::Allow);
    expect(&a, &[(Resource::Intention, "*", Write, true)]);
    let a = authz(&[r#"node_prefix "" { policy = "write" }"#], DefaultPolicy::Deny);
    expect(&a, &[(Resource::Intention, "*", Read, false)]);
    // Merged: intentions merge on their own, a derived level comes from
    // the merged policy.
    let a = authz(
        &[
            r#"service "web" { policy = "read" intentions = "write" }"#,
            r#"service "web" { policy = "deny" }"#,
            r#"service "db" { policy = "write" }"#,
            r#"service "db" { policy = "deny" }"#,
        ],
        DefaultPolicy::Allow,
    );
    expect(
        &a,
        &[
            (Resource::Service, "web", Read, false),
            (Resource::Intention, "web", Write, true),
            (Resource::Intention, "db", Read, false),
        ],
    );
}

#[test]
fn any_and_all() {
    let a =
        authz(&["service \"web\" { policy = \"write\" }\nnode_prefix \"\" { policy = \"read\" }"], DefaultPolicy::Deny);
    assert!(a.service_write_any().is_allowed());
    assert!(!a.service_read_all().is_allowed());
    assert!(a.node_read_all().is_allowed());
    let a = authz(
        &["service_prefix \"\" { policy = \"read\" }\nservice \"x\" { policy = \"deny\" }"],
        DefaultPolicy::Allow,
    );
    assert!(!a.service_write_any().is_allowed()); // "" read answers Deny
    assert!(!a.service_read_all().is_allowed()); // x denies
}

#[test]
fn identities() {
    let web = ServiceIdentity::new("web", &[]);
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc1").service_identity(&web).build();
    expect(
        &a,
        &[
            (Resource::Service, "web", Write, true),
            (Resource::Service, "web-sidecar-proxy", Write, true),
            (Resource::Service, "db", Read, true),
            (Resource::Service, "db", Write, false),
            (Resource::Service, "web-other", Write, false),
            (Resource::Node, "any", Read, true),
            (Resource::Node, "any", Write, false),
            (Resource::Intention, "web", Read, true),
            (Resource::Intention, "web", Write, false),
            (Resource::Key, "k", Read, false),
        ],
    );
    // Limited to dc2: nothing in dc1.
    let web_dc2 = ServiceIdentity::new("web", &["dc2"]);
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc1").service_identity(&web_dc2).build();
    expect(&a, &[(Resource::Service, "web", Read, false)]);
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc2").service_identity(&web_dc2).build();
    expect(&a, &[(Resource::Service, "web", Write, true)]);

    let node = NodeIdentity::new("node-1", "dc1");
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc1").node_identity(&node).build();
    expect(
        &a,
        &[
            (Resource::Node, "node-1", Write, true),
            (Resource::Node, "node-2", Read, false),
            (Resource::Service, "web", Read, true),
            (Resource::Service, "web", Write, false),
        ],
    );
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc2").node_identity(&node).build();
    expect(&a, &[(Resource::Node, "node-1", Write, false)]);

    // The built rules are the template's.
    let sorted = |mut rules: Rules| {
        rules.named.sort_by_key(|r| (r.section, r.name.clone()));
        rules
    };
    assert_eq!(sorted(parse(&web.rules_text()).unwrap()), sorted(web.rules()));
    assert_eq!(sorted(parse(&node.rules_text()).unwrap()), sorted(node.rules()));
    let policy = web.synthetic_policy();
    assert!(policy.rules.starts_with("\nservice \"web\" {\n\tpolicy = \"write\"\n}\nservice \"web-sidecar-proxy\""));
    assert_eq!(policy.description, "synthetic policy for service identity \"web\"");
    assert_eq!(policy.name, format!("synthetic-policy-{}", policy.id));
    // Go's Sum(rules) appends the empty hash to the rules' bytes.
    assert!(policy.id.starts_with("0a736572766963652022776562"));
    assert!(policy.id.ends_with("6c62272e07bb014262b821756295c58d"));
    let policy = node.synthetic_policy();
    assert_eq!(policy.description, "synthetic policy for node identity \"node-1\"");
    assert_eq!(policy.datacenters, vec!["dc1".to_string()]);
}

/// Policies limited to other datacenters are skipped; a token's policies,
/// identities together merge.
#[test]
fn builder_merges_everything_valid_here() {
    let deny_web = parse(r#"service "web" { policy = "deny" }"#).unwrap();
    let ops = parse(r#"operator = "write""#).unwrap();
    let a = Authorizer::builder(DefaultPolicy::Deny, "dc1")
        .policy(&ops, &["dc2".to_string()])
        .policy(&deny_web, &[])
        .service_identity(&ServiceIdentity::new("web", &[]))
        .build();
    expect(
        &a,
        &[
            (Resource::Operator, "", Read, false),
            (Resource::Service, "web", Read, false), // deny beats the identity's write
            (Resource::Service, "web-sidecar-proxy", Write, true),
        ],
    );
}

#[test]
fn management() {
    let a = Authorizer::new(&[Rules::global_management()], DefaultPolicy::Deny);
    for resource in Resource::ALL {
        for access in [Read, List, Write] {
            for name in ["", "x", "*", "a/b"] {
                assert!(a.allowed(resource, name, access).is_allowed(), "{resource}:{access} {name}");
            }
        }
    }
    assert!(a.key_write_prefix("").is_allowed());
    assert!(a.service_write_any().is_allowed() && a.service_read_all().is_allowed() && a.node_read_all().is_allowed());
    let m = Authorizer::manage_all();
    for resource in Resource::ALL {
        assert!(m.allowed(resource, "x", Write).is_allowed());
    }
}

#[test]
fn denial_texts() {
    assert_eq!(
        permission_denied("6a1253d2-1785-24fd-91c2-f8e78c745511", Resource::Service, Write, "web"),
        "Permission denied: token with AccessorID '6a1253d2-1785-24fd-91c2-f8e78c745511' lacks permission 'service:write' on \"web\""
    );
    assert_eq!(
        permission_denied("abc", Resource::Operator, Read, ""),
        "Permission denied: token with AccessorID 'abc' lacks permission 'operator:read'"
    );
    assert_eq!(
        permission_denied(ANONYMOUS_TOKEN_ID, Resource::Key, List, "app/"),
        "Permission denied: anonymous token lacks permission 'key:list' on \"app/\". The anonymous token is used implicitly when a request does not specify a token."
    );
    assert_eq!(ACL_NOT_FOUND, "ACL not found");
    let a = authz(&[r#"service "db" { policy = "read" }"#], DefaultPolicy::Deny);
    let err = a.check("abc", Resource::Intention, "db", Write).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Permission denied: token with AccessorID 'abc' lacks permission 'intention:write' on \"db\""
    );
    let err = a.check("abc", Resource::Mesh, "ignored", Write).unwrap_err();
    assert_eq!(err.to_string(), "Permission denied: token with AccessorID 'abc' lacks permission 'mesh:write'");
    assert!(a.check("abc", Resource::Service, "db", Read).is_ok());
}
