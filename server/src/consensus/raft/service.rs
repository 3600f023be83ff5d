//! The server side of Raft between servers: decodes a peer's RPC, hands it
//! to openraft, encodes openraft's whole `Result` back.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::v1::raft_server;
use tessera_proto::v1::RaftPayload;
use tonic::Request;

use crate::transport::peer::require_server;
use tonic::Response;
use tonic::Status;

use crate::consensus::raft::ClusterStamp;
use tessera_store::types::Raft;

pub struct RaftService {
    raft: Raft,
    stamp: ClusterStamp,
    /// A follower whose disk is nearly full refuses entries (the leader
    /// retries them) rather than let RocksDB fail mid-write.
    disk: Option<crate::disk::DiskGuard>,
}

impl RaftService {
    pub fn new(
        raft: Raft,
        stamp: ClusterStamp,
        disk: Option<crate::disk::DiskGuard>,
    ) -> raft_server::RaftServer<RaftService> {
        raft_server::RaftServer::new(RaftService { raft, stamp, disk }).max_decoding_message_size(64 << 20)
    }

    fn decode<T: DeserializeOwned>(&self, request: Request<RaftPayload>) -> Result<T, Status> {
        let payload = request.into_inner();
        if !self.stamp.accepts(&payload.cluster_id) {
            return Err(Status::permission_denied(format!(
                "raft traffic from cluster {} refused: this server belongs to cluster {}",
                payload.cluster_id,
                self.stamp.get()
            )));
        }
        serde_json::from_slice(&payload.data).map_err(|e| Status::invalid_argument(format!("bad raft payload: {e}")))
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Response<RaftPayload>, Status> {
        let data = serde_json::to_vec(value).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(RaftPayload { data, cluster_id: self.stamp.get() }))
    }
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        require_server(&request, "Raft")?;
        let bytes = request.get_ref().data.len() as u64;
        let rpc: openraft::raft::AppendEntriesRequest<tessera_store::types::TypeConfig> = self.decode(request)?;
        // Heartbeats (no entries) still pass, so the follower keeps its
        // leader and serves reads; entries wait for space.
        if let (Some(disk), false) = (&self.disk, rpc.entries.is_empty()) {
            disk.check(bytes).map_err(Status::resource_exhausted)?;
        }
        self.encode(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        require_server(&request, "Raft")?;
        let rpc = self.decode(request)?;
        self.encode(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        require_server(&request, "Raft")?;
        let rpc: openraft::raft::InstallSnapshotRequest<tessera_store::types::TypeConfig> = self.decode(request)?;
        check_chunk(rpc.offset, rpc.data.len())?;
        self.encode(&self.raft.install_snapshot(rpc).await)
    }
}

/// Snapshots are received into memory; a chunk past this bound would make
/// the server grow its buffer to the offset (a huge offset asks for
/// terabytes), so it is refused before openraft sees it.
const MAX_SNAPSHOT_BYTES: u64 = 8 << 30;

#[allow(clippy::result_large_err)]
fn check_chunk(offset: u64, len: usize) -> Result<(), Status> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= MAX_SNAPSHOT_BYTES => Ok(()),
        _ => Err(Status::invalid_argument(format!(
            "snapshot chunk at offset {offset} ({len} bytes) goes past the {MAX_SNAPSHOT_BYTES}-byte limit"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_past_the_limit_is_refused_before_anything_is_allocated() {
        assert!(check_chunk(0, 1 << 20).is_ok());
        assert!(check_chunk(MAX_SNAPSHOT_BYTES - 10, 10).is_ok());
        assert!(check_chunk(MAX_SNAPSHOT_BYTES, 1).is_err());
        assert!(check_chunk(u64::MAX, 2).is_err(), "no overflow");
    }
}
