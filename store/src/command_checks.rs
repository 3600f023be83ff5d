//! What a command must satisfy to be proposed at all, whoever proposes it:
//! the HTTP handlers check their input in their own words first, but a
//! command can also arrive ready-made over the server port
//! (`Cluster.Apply`), and there it gets the same bounds. The match is
//! exhaustive so a new command states its bounds.

use crate::command::Command;

/// Consul's `kv_max_value_size` default.
pub const MAX_KV_VALUE_BYTES: usize = 512 * 1024;
/// Keys, node, service and check names (Consul has no single rule; far above any real one).
const MAX_NAME_BYTES: usize = 4096;
/// The proposer's own limit on writes per entry.
const MAX_BATCH_COMMANDS: usize = 1024;

impl Command {
    /// Why this command may not be proposed, if it may not.
    pub fn check_limits(&self) -> Result<(), String> {
        match self {
            Command::InitCluster { cluster_id } => name("cluster_id", cluster_id),
            Command::KvSet { key, value, .. } => {
                name("key", key)?;
                if value.len() > MAX_KV_VALUE_BYTES {
                    return Err(format!("value of {} bytes is over the {MAX_KV_VALUE_BYTES}-byte limit", value.len()));
                }
                Ok(())
            }
            Command::KvDelete { key, recurse, .. } => match (*recurse, key.is_empty()) {
                (true, true) => Ok(()),
                _ => name("key", key),
            },
            Command::Batch { commands } => batch(commands),
            // The envelope holds one plain command: no batch, no envelope.
            Command::Once { command, .. } => match **command {
                Command::Batch { .. } | Command::Once { .. } => Err("an exactly-once write holds one command".into()),
                ref inner => inner.check_limits(),
            },
            Command::CatalogRegister { node, service, checks } => {
                name("node", &node.name)?;
                if let Some(service) = service {
                    name("service id", &service.id)?;
                    name("service name", &service.name)?;
                }
                checks.iter().try_for_each(|c| name("check id", &c.check_id))
            }
            Command::CatalogDeregister { node, .. } => name("node", node),
            Command::CatalogSyncNode { node, services, checks } => {
                name("node", &node.name)?;
                services.iter().try_for_each(|s| name("service id", &s.id))?;
                checks.iter().try_for_each(|c| name("check id", &c.check_id))
            }
            Command::CaInitialize { config, .. }
            | Command::CaRotate { config, .. }
            | Command::CaSetConfig { config } => config.validate(),
            Command::CaPruneRoots { .. } => Ok(()),
            Command::IntentionUpsert { intention, .. } => {
                intention_name("source", &intention.source)?;
                intention_name("destination", &intention.destination)
            }
            Command::IntentionDelete { source, destination } => {
                intention_name("source", source)?;
                intention_name("destination", destination)
            }
            Command::AutopilotSetConfig { .. } => Ok(()),
            // ACL writes are validated before proposing and again when applied.
            Command::AclBootstrap { .. }
            | Command::AclTokenSet { .. }
            | Command::AclTokenDelete { .. }
            | Command::AclPolicySet { .. }
            | Command::AclPolicyDelete { .. }
            | Command::AclRoleSet { .. }
            | Command::AclRoleDelete { .. } => Ok(()),
        }
    }
}

fn batch(commands: &[Command]) -> Result<(), String> {
    if commands.len() > MAX_BATCH_COMMANDS {
        return Err(format!("a batch of {} commands is over the {MAX_BATCH_COMMANDS} limit", commands.len()));
    }
    for command in commands {
        if matches!(command, Command::Batch { .. }) {
            return Err("a batch may not hold a batch".into());
        }
        // Each write of a batch is an envelope or a plain command; the
        // envelope's own check looks inside it.
        command.check_limits()?;
    }
    Ok(())
}

fn name(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(format!("{what} of {} bytes is over the {MAX_NAME_BYTES}-byte limit", value.len()));
    }
    Ok(())
}

fn intention_name(field: &'static str, value: &str) -> Result<(), String> {
    tessera_mesh::connect::intention::validate_name(field, value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, bytes: usize) -> Command {
        Command::KvSet { key: key.into(), value: vec![b'x'; bytes], flags: 0, cas: None }
    }

    #[test]
    fn the_wire_gets_the_bounds_the_http_api_has() {
        assert!(kv("a", MAX_KV_VALUE_BYTES).check_limits().is_ok());
        assert!(kv("a", MAX_KV_VALUE_BYTES + 1).check_limits().unwrap_err().contains("over the 524288-byte limit"));
        assert!(kv("", 1).check_limits().unwrap_err().contains("key must not be empty"));
        let nested = Command::Batch { commands: vec![Command::Batch { commands: vec![] }] };
        assert!(nested.check_limits().unwrap_err().contains("may not hold a batch"));
        let inside = Command::Batch { commands: vec![kv("a", 1), kv("", 1)] };
        assert!(inside.check_limits().is_err(), "each command of a batch is checked");
        let everything = Command::KvDelete { key: String::new(), recurse: true, cas: None };
        assert!(everything.check_limits().is_ok(), "a recursive delete of the root is the API's own");
    }
}
