//! Calls from one server to another's Cluster service.

use std::time::Duration;

use tessera_proto::v1::cluster_client::ClusterClient;
use tessera_proto::v1::ApplyRequest;
use tessera_proto::v1::HelloRequest;
use tessera_proto::v1::HelloResponse;
use tessera_proto::v1::JoinRequest;
use tessera_proto::v1::ReadIndexRequest;
use tessera_proto::v1::RemovePeerRequest;
use tessera_proto::v1::ServerInfo;
use tessera_proto::v1::StatusRequest;
use tessera_proto::v1::StatusResponse;
use tonic::transport::Channel;
use tonic::Status;

use crate::consensus::error::classify;
use crate::consensus::proposer::Applied;
use crate::consensus::Attempt;
use crate::consensus::ServerError;
use crate::transport::ChannelPool;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use tessera_store::types::ServerNode;

/// Forwarded work is bounded so a leader that vanished mid-call is given up
/// on and found again. (A forwarded write's bound is the configuration's
/// `forward_timeout`, the same by default.)
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

fn client(pool: &ChannelPool, addr: &str) -> Result<ClusterClient<Channel>, Status> {
    let channel = pool.channel(addr).map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(ClusterClient::new(channel).max_decoding_message_size(64 << 20))
}

fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// Forwards a write, waiting at most `timeout` for the leader's answer. A
/// timeout is ambiguous (the write may have applied): the caller retries the
/// same `Command::Once`, which the leader does not apply twice.
pub async fn apply(
    pool: &ChannelPool,
    leader: &ServerNode,
    command: &Command,
    timeout: Duration,
) -> Result<Applied, Attempt> {
    let mut client = client(pool, &leader.rpc_addr).map_err(classify)?;
    let message = ApplyRequest { command: command.encode() };
    let reply = client.apply(request(message, timeout)).await.map_err(classify)?.into_inner();
    let response = CommandResponse::decode(&reply.response)
        .map_err(|e| Attempt::Fail(ServerError::Internal(format!("leader sent a bad response: {e}"))))?;
    Ok(Applied { response, index: reply.index })
}

pub async fn read_index(pool: &ChannelPool, leader: &ServerNode) -> Result<u64, Attempt> {
    let mut client = client(pool, &leader.rpc_addr).map_err(classify)?;
    let reply = client.read_index(request(ReadIndexRequest {}, FORWARD_TIMEOUT)).await.map_err(classify)?;
    Ok(reply.into_inner().index)
}

pub async fn join(pool: &ChannelPool, via: &ServerNode, joiner: &ServerNode, datacenter: &str) -> Result<(), Attempt> {
    let mut client = client(pool, &via.rpc_addr).map_err(classify)?;
    let message = JoinRequest { server: Some(to_info(joiner, datacenter)) };
    client.join(request(message, FORWARD_TIMEOUT * 4)).await.map_err(classify)?;
    Ok(())
}

pub async fn transfer_leader(
    pool: &ChannelPool,
    leader: &ServerNode,
    message: tessera_proto::v1::TransferLeaderRequest,
) -> Result<tessera_proto::v1::TransferLeaderResponse, Attempt> {
    let mut client = client(pool, &leader.rpc_addr).map_err(classify)?;
    // A transfer is not retried on another leader: it may have happened.
    let answer = client.transfer_leader(request(message, FORWARD_TIMEOUT)).await;
    answer.map(tonic::Response::into_inner).map_err(|s| Attempt::Fail(ServerError::from(s)))
}

pub async fn timeout_now(pool: &ChannelPool, target: &ServerNode, term: u64) -> Result<(), Status> {
    let mut client = client(pool, &target.rpc_addr)?;
    let message = tessera_proto::v1::TimeoutNowRequest { term };
    client.timeout_now(request(message, FORWARD_TIMEOUT)).await?;
    Ok(())
}

pub async fn remove_peer(pool: &ChannelPool, leader: &ServerNode, message: RemovePeerRequest) -> Result<(), Attempt> {
    let mut client = client(pool, &leader.rpc_addr).map_err(classify)?;
    client.remove_peer(request(message, FORWARD_TIMEOUT)).await.map_err(classify)?;
    Ok(())
}

pub async fn heartbeat(pool: &ChannelPool, leader: &ServerNode, node: &str) -> Result<(), Status> {
    let channel = pool.channel(&leader.rpc_addr).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut client = tessera_proto::v1::agent_api_client::AgentApiClient::new(channel);
    let message = tessera_proto::v1::HeartbeatRequest { node: node.to_string() };
    client.heartbeat(request(message, FORWARD_TIMEOUT)).await?;
    Ok(())
}

pub async fn hello(pool: &ChannelPool, addr: &str, message: HelloRequest) -> Result<HelloResponse, Status> {
    let mut client = client(pool, addr)?;
    Ok(client.hello(request(message, Duration::from_secs(2))).await?.into_inner())
}

pub async fn status(pool: &ChannelPool, addr: &str, timeout: Duration) -> Result<StatusResponse, Status> {
    let mut client = client(pool, addr)?;
    Ok(client.status(request(StatusRequest {}, timeout)).await?.into_inner())
}

pub async fn sign_leaf(
    pool: &ChannelPool,
    leader: &ServerNode,
    message: tessera_proto::v1::SignLeafRequest,
) -> Result<tessera_proto::v1::SignLeafResponse, Attempt> {
    let mut client = client(pool, &leader.rpc_addr).map_err(classify)?;
    Ok(client.sign_leaf(request(message, FORWARD_TIMEOUT)).await.map_err(classify)?.into_inner())
}

pub fn to_info(node: &ServerNode, datacenter: &str) -> ServerInfo {
    ServerInfo {
        node_id: node.node_id.clone(),
        name: node.name.clone(),
        rpc_addr: node.rpc_addr.clone(),
        datacenter: datacenter.to_string(),
    }
}

pub fn from_info(info: &ServerInfo) -> ServerNode {
    ServerNode { node_id: info.node_id.clone(), name: info.name.clone(), rpc_addr: info.rpc_addr.clone() }
}
