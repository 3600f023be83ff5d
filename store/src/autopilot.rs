//! Autopilot's configuration as the cluster stores it (Consul's
//! `autopilot.Config`): set through `PUT /v1/operator/autopilot/configuration`,
//! one row replicated through Raft.
//!
//! Stored format: written in Raft log entries and table rows, read back by
//! later versions; fields are only ever added (new ones with a default).

use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfig {
    pub cleanup_dead_servers: bool,
    /// How long a server may go without answering before it is unhealthy.
    pub last_contact_threshold_ns: u64,
    /// How many entries a server may trail the leader by and stay healthy.
    pub max_trailing_logs: u64,
    pub min_quorum: u64,
    pub server_stabilization_time_ns: u64,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
}

impl AutopilotConfig {
    pub fn last_contact_threshold(&self) -> Duration {
        Duration::from_nanos(self.last_contact_threshold_ns)
    }

    pub fn server_stabilization_time(&self) -> Duration {
        Duration::from_nanos(self.server_stabilization_time_ns)
    }
}

/// Consul's defaults (`api.NewAutopilotConfiguration`), what a cluster that
/// never set a configuration uses.
impl Default for AutopilotConfig {
    fn default() -> Self {
        AutopilotConfig {
            cleanup_dead_servers: true,
            last_contact_threshold_ns: 200_000_000,
            max_trailing_logs: 250,
            min_quorum: 0,
            server_stabilization_time_ns: 10_000_000_000,
            redundancy_zone_tag: String::new(),
            disable_upgrade_migration: false,
            upgrade_version_tag: String::new(),
        }
    }
}

/// The stored configuration with the Raft indexes that created and last
/// changed it; both 0 while the defaults were never replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutopilotRow {
    pub config: AutopilotConfig,
    pub create_index: u64,
    pub modify_index: u64,
}
