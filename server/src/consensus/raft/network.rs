//! openraft's network: Raft RPCs to peers over pooled gRPC channels.

use openraft::error::InstallSnapshotError;
use openraft::error::NetworkError;
use openraft::error::RPCError;
use openraft::error::RaftError;
use openraft::error::RemoteError;
use openraft::error::Unreachable;
use openraft::network::RPCOption;
use openraft::network::RaftNetwork;
use openraft::network::RaftNetworkFactory;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::v1::raft_client::RaftClient;
use tessera_proto::v1::RaftPayload;
use tonic::transport::Channel;

use crate::consensus::raft::ClusterStamp;
use crate::transport::ChannelPool;
use tessera_store::types::NodeId;
use tessera_store::types::ServerNode;
use tessera_store::types::TypeConfig;

pub struct Network {
    pool: ChannelPool,
    stamp: ClusterStamp,
}

impl Network {
    pub fn new(pool: ChannelPool, stamp: ClusterStamp) -> Self {
        Network { pool, stamp }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &ServerNode) -> PeerConnection {
        PeerConnection {
            target,
            node: node.clone(),
            client: self.pool.channel(&node.rpc_addr).ok().map(RaftClient::new),
            stamp: self.stamp.clone(),
        }
    }
}

pub struct PeerConnection {
    target: NodeId,
    node: ServerNode,
    /// None when the peer's address does not parse; every RPC then fails as unreachable.
    client: Option<RaftClient<Channel>>,
    stamp: ClusterStamp,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, ServerNode, RaftError<NodeId, E>>>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl PeerConnection {
    /// Sends one request and decodes the peer's `Result`, mapping transport
    /// failures to what openraft expects: unreachable peers back off.
    async fn call<Req, Resp, E>(&mut self, kind: RpcKind, req: &Req, option: &RPCOption) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(client) = self.client.as_mut() else {
            let e = TransportError(format!("bad address {}", self.node.rpc_addr));
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        };
        let payload = RaftPayload {
            data: serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?,
            cluster_id: self.stamp.get(),
        };
        let mut request = tonic::Request::new(payload);
        request.set_timeout(option.hard_ttl());
        let sent = match kind {
            RpcKind::Append => client.append_entries(request).await,
            RpcKind::Vote => client.vote(request).await,
            RpcKind::Snapshot => client.install_snapshot(request).await,
        };
        let reply = sent.map_err(|status| transport_error(&status))?.into_inner();
        let result: Result<Resp, RaftError<NodeId, E>> =
            serde_json::from_slice(&reply.data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e)))
    }
}

#[derive(Clone, Copy)]
enum RpcKind {
    Append,
    Vote,
    Snapshot,
}

fn transport_error<E: std::error::Error>(status: &tonic::Status) -> RPCError<NodeId, ServerNode, RaftError<NodeId, E>> {
    let e = TransportError(format!("{}: {}", status.code(), status.message()));
    // Not `error::is_transient`: openraft backs off from an Unreachable peer,
    // so only codes that say the peer is down or not serving qualify; any
    // other failure is retried at once.
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::FailedPrecondition => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(RpcKind::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(RpcKind::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(RpcKind::Vote, &rpc, &option).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // A dead peer is retried every 50 ms, well inside the election
        // timeout: a restarted server hears from the leader before it would
        // stand for election itself (and disrupt the cluster with a stale
        // log). A refused connect on a live network costs next to nothing.
        openraft::network::Backoff::new(std::iter::repeat(std::time::Duration::from_millis(50)))
    }
}
