//! ACL rules text (HCL or JSON) into an Authorizer, then every resource
//! asked about a few names with every access: compiling and resolving must
//! not panic whatever the rules say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_mesh::acl::{parse, Access, Authorizer, DefaultPolicy, Resource};

fuzz_target!(|text: &str| {
    let Ok(rules) = parse(text) else { return };
    for default in [DefaultPolicy::Allow, DefaultPolicy::Deny] {
        let authz = Authorizer::builder(default, "dc1").policy(&rules, &[]).build();
        for resource in Resource::ALL {
            for name in ["", "web", "web-1", "*", "a/b"] {
                for access in [Access::Read, Access::List, Access::Write] {
                    let _ = authz.allowed(resource, name, access);
                }
            }
        }
        let _ = authz.key_write_prefix("");
        let _ = authz.key_write_prefix("web/");
        let _ = authz.service_write_any();
        let _ = authz.service_read_all();
        let _ = authz.node_read_all();
    }
});
