//! Agent and operator commands over single HTTP calls: `maint`,
//! `force-leave`, `version`, and `operator autopilot get-config|set-config|state`,
//! with Consul's output.

use std::collections::BTreeMap;

use clap::Args;
use reqwest::Method;
use tessera_mesh::api::catalog::OwnedCheck;
use tessera_mesh::api::operator::AutopilotConfiguration;
use tessera_mesh::api::operator::AutopilotState;

use tessera_server::version::CONSUL_API_VERSION;

use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Args)]
pub struct MaintArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Put the node (or -service) into maintenance mode.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Take the node (or -service) out of maintenance mode.
    #[arg(long)]
    disable: bool,
    /// Why, shown in the maintenance check's notes.
    #[arg(long, default_value = "")]
    reason: String,
    /// A service ID instead of the whole node.
    #[arg(long)]
    service: Option<String>,
}

pub async fn maint(args: MaintArgs) -> u8 {
    maint_inner(args).await.unwrap_or_else(fail)
}

async fn maint_inner(args: MaintArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    if !args.enable && !args.disable {
        return list_maintenance(&client).await;
    }
    let reason = serde_urlencoded::to_string([("reason", args.reason.as_str())])?;
    let path = match &args.service {
        Some(id) => format!("/v1/agent/service/maintenance/{id}?enable={}&{reason}", args.enable),
        None => format!("/v1/agent/maintenance?enable={}&{reason}", args.enable),
    };
    let reply = client.call(Method::PUT, &path, None).await?;
    if !reply.status.is_success() {
        anyhow::bail!("{}", reply.text());
    }
    let (what, action) = (if args.service.is_some() { "Service" } else { "Node" }, args.enable);
    match (&args.service, action) {
        (Some(id), true) => println!("{what} entered maintenance mode: {id}"),
        (Some(id), false) => println!("{what} left maintenance mode: {id}"),
        (None, true) => println!("{what} entered maintenance mode"),
        (None, false) => println!("{what} left maintenance mode"),
    }
    Ok(0)
}

/// What is in maintenance now, as `consul maint` with no flags prints it.
async fn list_maintenance(client: &Client) -> anyhow::Result<u8> {
    let checks: BTreeMap<String, OwnedCheck> = client.get("/v1/agent/checks").await?.json()?;
    for (id, check) in &checks {
        let reason = &check.notes;
        if id == "_node_maintenance" {
            println!("Node:\n  Name:   {}\n  Reason: {reason}\n", check.node);
        } else if let Some(service) = id.strip_prefix("_service_maintenance:") {
            println!("Service:\n  ID:     {service}\n  Reason: {reason}\n");
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct ForceLeaveArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Remove the node entirely (the same here: there is no gossip list to keep it in).
    #[arg(long)]
    prune: bool,
    /// The node to force out.
    node: String,
}

pub async fn force_leave(args: ForceLeaveArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let prune = if args.prune { "?prune" } else { "" };
        let reply = client.call(Method::PUT, &format!("/v1/agent/force-leave/{}{prune}", args.node), None).await?;
        match reply.status.is_success() {
            true => Ok(0),
            false => Err(anyhow::anyhow!("Error force leaving: {}", reply.text())),
        }
    };
    outcome.await.unwrap_or_else(fail)
}

pub fn version() -> u8 {
    println!("Tessera v{}", env!("CARGO_PKG_VERSION"));
    println!("Consul API {CONSUL_API_VERSION}");
    0
}

#[derive(Args)]
pub struct AutopilotArgs {
    #[command(flatten)]
    http: HttpFlags,
}

/// `operator autopilot get-config`, one `Key = value` line each.
pub async fn autopilot_config(args: AutopilotArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let c: AutopilotConfiguration = client.get("/v1/operator/autopilot/configuration").await?.json()?;
        // Consul prints an empty string as `""`.
        let text = |s: &str| if s.is_empty() { "\"\"".to_string() } else { s.to_string() };
        let lines = [
            ("CleanupDeadServers", c.cleanup_dead_servers.to_string()),
            ("LastContactThreshold", text(&c.last_contact_threshold)),
            ("MaxTrailingLogs", c.max_trailing_logs.to_string()),
            ("MinQuorum", c.min_quorum.to_string()),
            ("ServerStabilizationTime", text(&c.server_stabilization_time)),
            ("RedundancyZoneTag", text(&c.redundancy_zone_tag)),
            ("DisableUpgradeMigration", c.disable_upgrade_migration.to_string()),
            ("UpgradeVersionTag", text(&c.upgrade_version_tag)),
        ];
        for (key, value) in lines {
            println!("{key} = {value}");
        }
        anyhow::Ok(0)
    };
    outcome.await.unwrap_or_else(fail)
}

/// `operator autopilot set-config`'s flags, Consul's: each one given
/// replaces that setting, the others keep theirs.
#[derive(Args)]
pub struct SetConfigArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Remove dead servers when a new server joins (`-cleanup-dead-servers=false` to stop).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    cleanup_dead_servers: Option<bool>,
    /// How many log entries a server may trail the leader by and stay healthy.
    #[arg(long)]
    max_trailing_logs: Option<u64>,
    /// The fewest servers autopilot keeps when pruning dead ones.
    #[arg(long)]
    min_quorum: Option<u64>,
    /// How long a server may go without contact before it is unhealthy (e.g. 200ms).
    #[arg(long)]
    last_contact_threshold: Option<String>,
    /// How long a new server must be healthy before it is promoted (e.g. 10s).
    #[arg(long)]
    server_stabilization_time: Option<String>,
    /// (Enterprise) the node meta key that names a server's redundancy zone.
    #[arg(long)]
    redundancy_zone_tag: Option<String>,
    /// (Enterprise) turns off upgrade migrations.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    disable_upgrade_migration: Option<bool>,
    /// (Enterprise) the node meta key that names a server's version.
    #[arg(long)]
    upgrade_version_tag: Option<String>,
}

impl SetConfigArgs {
    /// Each flag given replaces its setting in `config`.
    fn apply(&self, config: &mut AutopilotConfiguration) {
        fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
            if let Some(value) = flag {
                *field = value.clone();
            }
        }
        set(&mut config.cleanup_dead_servers, &self.cleanup_dead_servers);
        set(&mut config.max_trailing_logs, &self.max_trailing_logs);
        set(&mut config.min_quorum, &self.min_quorum);
        set(&mut config.last_contact_threshold, &self.last_contact_threshold);
        set(&mut config.server_stabilization_time, &self.server_stabilization_time);
        set(&mut config.redundancy_zone_tag, &self.redundancy_zone_tag);
        set(&mut config.disable_upgrade_migration, &self.disable_upgrade_migration);
        set(&mut config.upgrade_version_tag, &self.upgrade_version_tag);
    }
}

/// `operator autopilot set-config`: as Consul's, reads the configuration,
/// changes what the flags say and writes it back with `?cas=` its
/// ModifyIndex, so a concurrent change is not overwritten.
pub async fn autopilot_set_config(args: SetConfigArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let path = "/v1/operator/autopilot/configuration";
        let mut config: AutopilotConfiguration = client
            .get(path)
            .await
            .and_then(|reply| reply.json())
            .map_err(|e| anyhow::anyhow!("Error querying Autopilot configuration: {e}"))?;
        let modify_index = config.modify_index;
        args.apply(&mut config);
        let body = serde_json::to_vec(&config)?;
        let reply = client.call(Method::PUT, &format!("{path}?cas={modify_index}"), Some(body)).await?;
        let updated: bool = reply.json().map_err(|e| anyhow::anyhow!("Error setting Autopilot configuration: {e}"))?;
        if !updated {
            return Ok(fail("Configuration could not be atomically updated, please try again"));
        }
        println!("Configuration updated!");
        anyhow::Ok(0)
    };
    outcome.await.unwrap_or_else(fail)
}

/// `operator autopilot state`: health, tolerance, and each server.
pub async fn autopilot_state(args: AutopilotArgs) -> u8 {
    let outcome = async {
        let client = Client::new(&args.http)?;
        let state: AutopilotState = client.get("/v1/operator/autopilot/state").await?.json()?;
        println!("Healthy: {}", state.healthy);
        println!("Failure Tolerance: {}", state.failure_tolerance);
        println!("Leader: {}", state.leader);
        println!("Voters:");
        for voter in &state.voters {
            println!("   {voter}");
        }
        println!("\nServers:");
        for server in state.servers.values() {
            println!("   {}", server.id);
            println!("      Name:          {}", server.name);
            println!("      Address:       {}", server.address);
            println!("      Status:        {}", server.status);
            println!("      Healthy:       {}", server.healthy);
            println!("      Last Contact:  {}", server.last_contact);
            println!("      Last Index:    {}", server.last_index);
        }
        anyhow::Ok(0)
    };
    outcome.await.unwrap_or_else(fail)
}
