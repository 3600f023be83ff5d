//! A member as `/v1/agent/members` and `/v1/agent/self` show one, in
//! Consul's shape: serf's fields and tags, with the server RPC address in
//! place of the gossip one (Tessera has no gossip).

use std::collections::BTreeMap;

pub use tessera_mesh::api::agent::Member;
pub use tessera_mesh::api::agent::ALIVE;
pub use tessera_mesh::api::agent::FAILED;

use crate::version::CONSUL_API_VERSION;
use crate::version::TESSERA_VERSION;

/// What sets one member apart from another.
pub struct MemberFacts<'a> {
    pub name: &'a str,
    pub node_id: &'a str,
    /// `host:port`, or a bare host.
    pub addr: &'a str,
    pub datacenter: &'a str,
    pub status: u8,
    pub role: Role,
}

pub enum Role {
    Server { bootstrap_expect: u32, grpc_port: Option<u16> },
    Client,
}

/// Consul's `build` tag is `<version>:<revision>`; tools split at the colon
/// for the version, so it carries the Consul API level, then Tessera's own.
fn build_tag() -> String {
    format!("{CONSUL_API_VERSION}:tessera-{TESSERA_VERSION}")
}

/// The member entry these facts make.
pub fn member(facts: MemberFacts<'_>) -> Member {
    let (addr, port) = match facts.addr.rsplit_once(':') {
        Some((host, port)) => (host.trim_matches(['[', ']']).to_string(), port.parse().unwrap_or(0)),
        None => (facts.addr.to_string(), 0),
    };
    let mut tags: BTreeMap<String, String> = [
        ("dc", facts.datacenter.to_string()),
        ("id", facts.node_id.to_string()),
        ("build", build_tag()),
        ("vsn", "2".into()),
        ("vsn_min", "2".into()),
        ("vsn_max", "3".into()),
        ("segment", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    match facts.role {
        Role::Server { bootstrap_expect, grpc_port } => {
            let mut put = |k: &str, v: String| tags.insert(k.to_string(), v);
            put("role", "consul".into());
            put("port", port.to_string());
            put("raft_vsn", "3".into());
            put("acls", "0".into());
            put("ft_fs", "1".into());
            put("ft_si", "1".into());
            if bootstrap_expect > 0 {
                put("expect", bootstrap_expect.to_string());
            }
            if let Some(grpc) = grpc_port {
                put("grpc_port", grpc.to_string());
            }
        }
        Role::Client => {
            tags.insert("role".into(), "node".into());
        }
    }
    Member {
        name: facts.name.to_string(),
        addr,
        port,
        tags,
        status: facts.status,
        // Serf's protocol and delegate versions, as a Consul 1.17 agent reports them.
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}
