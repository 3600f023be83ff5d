//! Service and node identities: the synthetic policies Consul writes for
//! them, from its templates.
//!
//! - service identity `web` (in its datacenters, all when none listed):
//!   `service "web"` and `service "web-sidecar-proxy"` write,
//!   `service_prefix ""` and `node_prefix ""` read;
//! - node identity `node-1` in `dc1` (that datacenter only):
//!   `node "node-1"` write, `service_prefix ""` read.

use std::fmt::Write as _;

use super::rules::Level;
use super::rules::NamedRule;
use super::rules::Rules;
use super::rules::Section;

/// A token's or role's service identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    pub service_name: String,
    /// Where its policy is valid; every datacenter when empty.
    pub datacenters: Vec<String>,
}

/// A token's or role's node identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node_name: String,
    /// Required: the node's datacenter, the only one the policy is valid in.
    pub datacenter: String,
}

/// An identity's policy as Consul shows it (`?expanded` token reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPolicy {
    pub id: String,
    /// `synthetic-policy-<id>`.
    pub name: String,
    pub description: String,
    /// The template filled in, byte for byte Consul's.
    pub rules: String,
    pub datacenters: Vec<String>,
}

/// Whether a policy limited to `datacenters` (none: no limit) applies in
/// `datacenter`.
pub fn valid_in(datacenters: &[String], datacenter: &str) -> bool {
    datacenters.is_empty() || datacenters.iter().any(|dc| dc == datacenter)
}

impl ServiceIdentity {
    pub fn new(service_name: impl Into<String>, datacenters: &[&str]) -> ServiceIdentity {
        ServiceIdentity {
            service_name: service_name.into(),
            datacenters: datacenters.iter().map(|dc| dc.to_string()).collect(),
        }
    }

    pub fn valid_in(&self, datacenter: &str) -> bool {
        valid_in(&self.datacenters, datacenter)
    }

    /// The synthetic policy's rules, built directly (the same as parsing
    /// [`ServiceIdentity::rules_text`]).
    pub fn rules(&self) -> Rules {
        let name = &self.service_name;
        Rules {
            named: vec![
                NamedRule::new(Section::Service, name.as_str(), Level::Write),
                NamedRule::new(Section::Service, format!("{name}-sidecar-proxy"), Level::Write),
                NamedRule::new(Section::ServicePrefix, "", Level::Read),
                NamedRule::new(Section::NodePrefix, "", Level::Read),
            ],
            ..Rules::default()
        }
    }

    /// Consul's template text for this identity.
    pub fn rules_text(&self) -> String {
        let name = &self.service_name;
        format!(
            "\nservice \"{name}\" {{\n\tpolicy = \"write\"\n}}\nservice \"{name}-sidecar-proxy\" {{\n\tpolicy = \"write\"\n}}\nservice_prefix \"\" {{\n\tpolicy = \"read\"\n}}\nnode_prefix \"\" {{\n\tpolicy = \"read\"\n}}"
        )
    }

    pub fn synthetic_policy(&self) -> SyntheticPolicy {
        let rules = self.rules_text();
        let id = synthetic_id(&rules);
        SyntheticPolicy {
            name: format!("synthetic-policy-{id}"),
            description: format!("synthetic policy for service identity {:?}", self.service_name),
            id,
            rules,
            datacenters: self.datacenters.clone(),
        }
    }
}

impl NodeIdentity {
    pub fn new(node_name: impl Into<String>, datacenter: impl Into<String>) -> NodeIdentity {
        NodeIdentity { node_name: node_name.into(), datacenter: datacenter.into() }
    }

    pub fn valid_in(&self, datacenter: &str) -> bool {
        self.datacenter == datacenter
    }

    pub fn rules(&self) -> Rules {
        Rules {
            named: vec![
                NamedRule::new(Section::Node, self.node_name.as_str(), Level::Write),
                NamedRule::new(Section::ServicePrefix, "", Level::Read),
            ],
            ..Rules::default()
        }
    }

    pub fn rules_text(&self) -> String {
        let name = &self.node_name;
        format!("\nnode \"{name}\" {{\n\tpolicy = \"write\"\n}}\nservice_prefix \"\" {{\n\tpolicy = \"read\"\n}}")
    }

    pub fn synthetic_policy(&self) -> SyntheticPolicy {
        let rules = self.rules_text();
        let id = synthetic_id(&rules);
        SyntheticPolicy {
            name: format!("synthetic-policy-{id}"),
            description: format!("synthetic policy for node identity {:?}", self.node_name),
            id,
            rules,
            datacenters: vec![self.datacenter.clone()],
        }
    }
}

/// The empty FNV-128a hash (its offset basis), big-endian.
const FNV128_OFFSET_BASIS: u128 = 0x6c62272e07bb014262b821756295c58d;

/// Consul's synthetic policy ID. Consul calls `fnv.New128a().Sum(rules)`,
/// which in Go *appends* the hash of nothing to its argument rather than
/// hashing it: the ID is the rules text in hex followed by the empty
/// FNV-128a hash. Reproduced as is, so IDs match Consul's.
fn synthetic_id(rules: &str) -> String {
    let mut id = String::with_capacity(rules.len() * 2 + 32);
    for byte in rules.bytes() {
        let _ = write!(id, "{byte:02x}");
    }
    let _ = write!(id, "{FNV128_OFFSET_BASIS:032x}");
    id
}
