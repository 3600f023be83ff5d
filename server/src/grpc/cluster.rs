//! The Cluster gRPC service: what servers ask each other.

use std::sync::Arc;

use tessera_proto::v1::cluster_server;
use tessera_proto::v1::ApplyRequest;
use tessera_proto::v1::ApplyResponse;
use tessera_proto::v1::HelloRequest;
use tessera_proto::v1::HelloResponse;
use tessera_proto::v1::JoinRequest;
use tessera_proto::v1::JoinResponse;
use tessera_proto::v1::ReadIndexRequest;
use tessera_proto::v1::ReadIndexResponse;
use tessera_proto::v1::RemovePeerRequest;
use tessera_proto::v1::RemovePeerResponse;
use tessera_proto::v1::StatusRequest;
use tessera_proto::v1::StatusResponse;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use crate::cluster::membership::PeerRef;
use crate::connect::ca::SigningState;
use crate::consensus::forward::from_info;
use crate::consensus::forward::to_info;
use crate::consensus::proposer::ProposeError;
use crate::consensus::Server;
use crate::transport::peer::require_server;
use tessera_store::command::Command;

pub struct ClusterService {
    server: Arc<Server>,
    signing: Arc<SigningState>,
}

impl ClusterService {
    pub fn new(server: Arc<Server>, signing: Arc<SigningState>) -> cluster_server::ClusterServer<ClusterService> {
        cluster_server::ClusterServer::new(ClusterService { server, signing }).max_decoding_message_size(64 << 20)
    }

    fn not_leader() -> Status {
        Status::failed_precondition("not the leader")
    }
}

#[tonic::async_trait]
impl cluster_server::Cluster for ClusterService {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        require_server(&request, "Cluster.Hello")?;
        let request = request.into_inner();
        let server = &self.server;
        server.discovery.merge(request.from.iter().chain(&request.known).map(from_info));
        let dc = &server.config.datacenter;
        Ok(Response::new(HelloResponse {
            server: Some(to_info(&server.me, dc)),
            initialized: server.raft.is_initialized().await.map_err(|e| Status::internal(e.to_string()))?,
            known: server.discovery.servers().iter().map(|n| to_info(n, dc)).collect(),
            cluster_id: server.stamp.get(),
        }))
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        require_server(&request, "Cluster.Join")?;
        let info = request.into_inner().server.ok_or_else(|| Status::invalid_argument("join without a server"))?;
        self.server.add_voter(from_info(&info)).await.map_err(Status::from)?;
        Ok(Response::new(JoinResponse {}))
    }

    async fn apply(&self, request: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        require_server(&request, "Cluster.Apply")?;
        let command = Command::decode(&request.into_inner().command)
            .map_err(|e| Status::invalid_argument(format!("undecodable command: {e}")))?;
        command.check_limits().map_err(|e| Status::invalid_argument(format!("refused command: {e}")))?;
        match self.server.propose_local(command).await {
            Ok(applied) => {
                Ok(Response::new(ApplyResponse { response: applied.response.encode(), index: applied.index }))
            }
            Err(ProposeError::NotLeader) => Err(Self::not_leader()),
            Err(ProposeError::Stopped(reason)) => Err(Status::unavailable(reason)),
            Err(ProposeError::DiskFull(message)) => Err(Status::resource_exhausted(message)),
        }
    }

    async fn read_index(&self, request: Request<ReadIndexRequest>) -> Result<Response<ReadIndexResponse>, Status> {
        require_server(&request, "Cluster.ReadIndex")?;
        match self.server.raft.get_read_log_id().await {
            Ok((read_log_id, _)) => Ok(Response::new(ReadIndexResponse { index: read_log_id.map_or(0, |l| l.index) })),
            Err(_) => Err(Self::not_leader()),
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let server = &self.server;
        let metrics = server.raft.metrics().borrow().clone();
        let leader_id = server.leader().map(|(_, node)| node.node_id).unwrap_or_default();
        Ok(Response::new(StatusResponse {
            server: Some(to_info(&server.me, &server.config.datacenter)),
            leader_id,
            term: metrics.current_term,
            applied_index: metrics.last_applied.map_or(0, |l| l.index),
            cluster_id: server.stamp.get(),
        }))
    }

    async fn remove_peer(&self, request: Request<RemovePeerRequest>) -> Result<Response<RemovePeerResponse>, Status> {
        require_server(&request, "Cluster.RemovePeer")?;
        let peer = PeerRef::from_request(&request.into_inner())
            .ok_or_else(|| Status::invalid_argument("give exactly one of node_id and rpc_addr"))?;
        self.server.remove_voter(peer).await.map_err(Status::from)?;
        Ok(Response::new(RemovePeerResponse {}))
    }

    async fn transfer_leader(
        &self,
        request: Request<tessera_proto::v1::TransferLeaderRequest>,
    ) -> Result<Response<tessera_proto::v1::TransferLeaderResponse>, Status> {
        require_server(&request, "Cluster.TransferLeader")?;
        let wanted = request.into_inner().node_id;
        let node_id = (!wanted.is_empty()).then_some(wanted);
        let leader = self.server.transfer_leader(node_id).await.map_err(Status::from)?;
        let leader = Some(to_info(&leader, &self.server.config.datacenter));
        Ok(Response::new(tessera_proto::v1::TransferLeaderResponse { leader }))
    }

    async fn timeout_now(
        &self,
        request: Request<tessera_proto::v1::TimeoutNowRequest>,
    ) -> Result<Response<tessera_proto::v1::TimeoutNowResponse>, Status> {
        require_server(&request, "Cluster.TimeoutNow")?;
        self.server.timeout_now(request.into_inner().term).await.map_err(Status::from)?;
        Ok(Response::new(tessera_proto::v1::TimeoutNowResponse {}))
    }

    /// Only the leader signs; a follower asked directly answers "not the
    /// leader" so the caller finds the leader again.
    async fn sign_leaf(
        &self,
        request: Request<tessera_proto::v1::SignLeafRequest>,
    ) -> Result<Response<tessera_proto::v1::SignLeafResponse>, Status> {
        require_server(&request, "Cluster.SignLeaf")?;
        if !self.server.is_leader() {
            return Err(Self::not_leader());
        }
        let signed =
            crate::connect::ca::sign_here(&self.server, &self.signing, &request.into_inner()).map_err(Status::from)?;
        Ok(Response::new(signed))
    }
}
