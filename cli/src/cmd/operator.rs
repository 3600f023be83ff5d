//! `tessera operator raft list-peers|remove-peer|transfer-leader`.

use clap::Args;
use clap::Subcommand;
use reqwest::Method;
use tessera_mesh::api::operator::RaftConfiguration;

use crate::client::columns;
use crate::client::Client;
use crate::cmd::fail;
use crate::cmd::HttpFlags;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Raft peer set tools.
    #[command(subcommand)]
    Raft(RaftCommand),
    /// Autopilot: server health and its configuration.
    #[command(subcommand)]
    Autopilot(AutopilotCommand),
}

#[derive(Subcommand)]
pub enum AutopilotCommand {
    /// Prints the autopilot configuration.
    GetConfig(crate::cmd::ops::AutopilotArgs),
    /// Changes the autopilot configuration (only the flags given).
    SetConfig(crate::cmd::ops::SetConfigArgs),
    /// Prints each server's health and the failure tolerance.
    State(crate::cmd::ops::AutopilotArgs),
}

#[derive(Subcommand)]
pub enum RaftCommand {
    /// Lists the servers of the Raft configuration.
    ListPeers(ListPeersArgs),
    /// Removes a server from the Raft configuration.
    RemovePeer(RemovePeerArgs),
    /// Hands leadership to another server (-id), or the most caught-up one.
    TransferLeader(TransferLeaderArgs),
}

#[derive(Args)]
pub struct TransferLeaderArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The server's node ID (see list-peers).
    #[arg(long)]
    id: Option<String>,
}

#[derive(Args)]
pub struct ListPeersArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Args)]
pub struct RemovePeerArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The server's node ID (see list-peers).
    #[arg(long, conflicts_with = "address")]
    id: Option<String>,
    /// The server's RPC address, IP:port.
    #[arg(long)]
    address: Option<String>,
}

pub async fn run(command: OperatorCommand) -> u8 {
    let raft = match command {
        OperatorCommand::Raft(raft) => raft,
        OperatorCommand::Autopilot(AutopilotCommand::GetConfig(args)) => {
            return crate::cmd::ops::autopilot_config(args).await;
        }
        OperatorCommand::Autopilot(AutopilotCommand::SetConfig(args)) => {
            return crate::cmd::ops::autopilot_set_config(args).await;
        }
        OperatorCommand::Autopilot(AutopilotCommand::State(args)) => {
            return crate::cmd::ops::autopilot_state(args).await
        }
    };
    let outcome = match raft {
        RaftCommand::ListPeers(args) => list_peers(args).await,
        RaftCommand::RemovePeer(args) => remove_peer(args).await,
        RaftCommand::TransferLeader(args) => transfer_leader(args).await,
    };
    outcome.unwrap_or_else(fail)
}

async fn list_peers(args: ListPeersArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let config: RaftConfiguration = client.get("/v1/operator/raft/configuration").await?.json()?;
    let header = ["Node", "ID", "Address", "State", "Voter", "RaftProtocol"];
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for s in config.servers {
        let state = if s.leader { "leader" } else { "follower" };
        rows.push(vec![s.node, s.id, s.address, state.into(), s.voter.to_string(), s.protocol_version]);
    }
    print!("{}", columns(&rows));
    Ok(0)
}

async fn remove_peer(args: RemovePeerArgs) -> anyhow::Result<u8> {
    let query = match (&args.id, &args.address) {
        (Some(id), None) => format!("id={id}"),
        (None, Some(address)) => format!("address={address}"),
        _ => return Ok(fail("Must specify exactly one of -id or -address")),
    };
    let client = Client::new(&args.http)?;
    let reply = client.call(Method::DELETE, &format!("/v1/operator/raft/peer?{query}"), None).await?;
    if !reply.status.is_success() {
        return Ok(fail(format!(
            "Error removing peer: Unexpected response code: {} ({})",
            reply.status.as_u16(),
            reply.text()
        )));
    }
    match (&args.id, &args.address) {
        (Some(id), _) => println!("Removed peer with id \"{id}\""),
        (_, Some(address)) => println!("Removed peer with address \"{address}\""),
        _ => {}
    }
    Ok(0)
}

async fn transfer_leader(args: TransferLeaderArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.http)?;
    let query =
        args.id.as_ref().map(|id| format!("?{}", serde_urlencoded::to_string([("id", id)]).unwrap_or_default()));
    let path = format!("/v1/operator/raft/transfer-leader{}", query.unwrap_or_default());
    let reply = client.call(Method::POST, &path, None).await?;
    if !reply.status.is_success() {
        return Ok(fail(format!(
            "Error transferring leadership: Unexpected response code: {} ({})",
            reply.status.as_u16(),
            reply.text()
        )));
    }
    println!("Success");
    Ok(0)
}
