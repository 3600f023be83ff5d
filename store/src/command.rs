//! The Raft log payload: every change to replicated state is one `Command`.
//!
//! This is a stored format: entries written by one version are applied by
//! later ones. Variants and fields are only ever added (new fields with
//! `#[serde(default)]`), never renamed or reused. Everything nondeterministic
//! (ids, timestamps) is decided before a command is proposed, so applying it
//! is a pure function of (state, command).

use serde::Deserialize;
use serde::Serialize;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::connect::ca::RootCa;
use tessera_mesh::connect::Intention;

use crate::acl::AclPolicy;
use crate::acl::AclRole;
use crate::acl::AclToken;
use crate::autopilot::AutopilotConfig;
use crate::ca::CaConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Command {
    /// Records the cluster id. Proposed once, by the first leader.
    InitCluster {
        cluster_id: String,
    },
    /// Sets a KV entry. With `cas`, only if the entry's ModifyIndex equals it
    /// (0: only if the key does not exist).
    KvSet {
        key: String,
        #[serde(with = "base64_bytes")]
        value: Vec<u8>,
        #[serde(default)]
        flags: u64,
        #[serde(default)]
        cas: Option<u64>,
    },
    /// Deletes a KV entry, or with `recurse` every entry under the prefix.
    KvDelete {
        key: String,
        #[serde(default)]
        recurse: bool,
        #[serde(default)]
        cas: Option<u64>,
    },
    /// Several commands in one log entry, applied in order. Writers are
    /// batched this way so that one fsync serves many of them.
    Batch {
        commands: Vec<Command>,
    },
    /// `/v1/catalog/register`: upserts a node, and optionally one service
    /// and some checks on it.
    CatalogRegister {
        node: Node,
        #[serde(default)]
        service: Option<Service>,
        #[serde(default)]
        checks: Vec<HealthCheck>,
    },
    /// `/v1/catalog/deregister`: a check, a service (with its checks) or,
    /// with neither, the whole node.
    CatalogDeregister {
        node: String,
        #[serde(default)]
        service_id: Option<String>,
        #[serde(default)]
        check_id: Option<String>,
    },
    /// An agent's anti-entropy sync: the node's services and checks become
    /// exactly these.
    CatalogSyncNode {
        node: Node,
        services: Vec<Service>,
        checks: Vec<HealthCheck>,
    },
    /// The CA's first root and configuration; applied only if there is no
    /// root yet (answers `Applied(false)` otherwise).
    CaInitialize {
        config: CaConfig,
        root: RootCa,
    },
    /// Root rotation: `new_root` (cross-signed by the old key) becomes
    /// active if `expect_active` is still the active root.
    CaRotate {
        expect_active: String,
        config: CaConfig,
        new_root: RootCa,
        cross_signed_pem: String,
        /// When the old root stopped being active (unix seconds).
        rotated_at: u64,
    },
    /// A configuration change that keeps the root (e.g. the leaf TTL).
    CaSetConfig {
        config: CaConfig,
    },
    /// Removes inactive roots whose leaves have all expired.
    CaPruneRoots {
        root_ids: Vec<String>,
    },
    /// Creates an intention; with `replace`, overwrites the pair's existing
    /// one. Answers `Applied(false)` if it exists and `replace` is off.
    IntentionUpsert {
        intention: Intention,
        replace: bool,
    },
    /// Answers `Applied(false)` if the pair had no intention.
    IntentionDelete {
        source: String,
        destination: String,
    },
    /// `PUT /v1/operator/autopilot/configuration`: replaces autopilot's
    /// configuration; with `cas`, only if its modify index is still that
    /// (answers `Applied(false)` otherwise).
    AutopilotSetConfig {
        config: AutopilotConfig,
        #[serde(default)]
        cas: Option<u64>,
    },
    /// `PUT /v1/acl/bootstrap`: the management token, with the secret
    /// hashing key it was hashed under (new, or the state's on a reset).
    /// Refused once bootstrapped, unless `reset_index` is the last
    /// bootstrap's index. Writes the built-ins if they are missing.
    AclBootstrap {
        hash_key: String,
        token: AclToken,
        #[serde(default)]
        reset_index: Option<u64>,
    },
    /// Creates a token (`create`) or replaces an existing one's editable
    /// fields. The secret is only ever carried hashed.
    AclTokenSet {
        token: AclToken,
        create: bool,
    },
    /// Answers `Applied(false)` if there was no such token.
    AclTokenDelete {
        accessor_id: String,
    },
    AclPolicySet {
        policy: AclPolicy,
        create: bool,
    },
    AclPolicyDelete {
        id: String,
    },
    AclRoleSet {
        role: AclRole,
        create: bool,
    },
    AclRoleDelete {
        id: String,
    },
    /// `command` as written by one proposer: `client` is a random id of the
    /// proposing server process, `seq` its writes' number, from 1 up. The
    /// state machine remembers the answers of each client's last
    /// [`crate::tables::once::WINDOW`] writes, so a retry of the same
    /// (client, seq) after an ambiguous failure is answered what the first
    /// attempt was, and not applied again. Entries without it apply as
    /// they always did.
    Once {
        client: u64,
        seq: u64,
        command: Box<Command>,
    },
}

/// What applying a command answered. Business rejections (a failed CAS) are
/// values here, never errors of the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// Applied; nothing to report (also the answer for blank and membership entries).
    Done,
    /// A conditional write: true if it was applied.
    Applied(bool),
    /// One answer per command of a `Batch`, in order.
    Batch(Vec<CommandResponse>),
    /// Not applied, and why (an ACL write whose checks failed at apply:
    /// a link to a policy deleted meanwhile, a name taken meanwhile).
    Refused(String),
    /// Not applied: a `Once` write older than its client's window of
    /// remembered answers, so whether an earlier attempt applied is no
    /// longer known (the write's outcome is unknown, not a rejection).
    Forgotten,
}

impl Command {
    /// Encodes for a log entry or a forwarded write.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Command always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl CommandResponse {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CommandResponse always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Byte strings as base64 in the JSON encoding of the log, as Consul's KV API
/// shows them, rather than serde's array of numbers.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use std::fmt;

    use serde::de::Visitor;
    use serde::Deserializer;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Takes the text borrowed when it can be, owned when it must be (a JSON
    /// escape such as `\/`, or a reader): a borrowed-only `&str` would refuse
    /// valid entries written by another encoder.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_str(Base64Text)
    }

    struct Base64Text;

    impl Visitor<'_> for Base64Text {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a base64 string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            STANDARD.decode(text).map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_the_log_encoding() {
        let batch = Command::Batch {
            commands: vec![
                Command::KvSet { key: "a/b".into(), value: vec![0, 255, 7], flags: 3, cas: Some(0) },
                Command::KvDelete { key: "a".into(), recurse: true, cas: None },
                Command::InitCluster { cluster_id: "c".into() },
            ],
        };
        assert_eq!(Command::decode(&batch.encode()).unwrap(), batch);
    }

    #[test]
    fn kv_values_are_stored_as_base64() {
        let set = Command::KvSet { key: "k".into(), value: b"hi".to_vec(), flags: 0, cas: None };
        let text = String::from_utf8(set.encode()).unwrap();
        assert!(text.contains("\"aGk=\""), "{text}");
    }

    #[test]
    fn kv_values_with_json_escapes_decode() {
        let escaped = br#"{"op":"KvSet","key":"k","value":"aGk\u003d"}"#;
        let decoded = Command::decode(escaped).unwrap();
        assert_eq!(decoded, Command::KvSet { key: "k".into(), value: b"hi".to_vec(), flags: 0, cas: None });
    }

    #[test]
    fn entries_written_before_optional_fields_existed_still_decode() {
        let old = br#"{"op":"KvSet","key":"k","value":"aGk="}"#;
        let decoded = Command::decode(old).unwrap();
        assert_eq!(decoded, Command::KvSet { key: "k".into(), value: b"hi".to_vec(), flags: 0, cas: None });
    }
}

#[cfg(test)]
#[path = "command_golden.rs"]
mod golden;
