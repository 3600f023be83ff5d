//! The AgentApi gRPC service: what client agents ask of servers. Their HTTP
//! API calls run through this server's own HTTP router, so both kinds of
//! agent answer alike.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use tessera_proto::v1::agent_api_server;
use tessera_proto::v1::AgentWrite;
use tessera_proto::v1::AgentWriteResponse;
use tessera_proto::v1::DnsMessage;
use tessera_proto::v1::HeartbeatRequest;
use tessera_proto::v1::HeartbeatResponse;
use tessera_proto::v1::HttpRequest;
use tessera_proto::v1::HttpResponse;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tower::ServiceExt;

use crate::cluster::forward;
use crate::command::Command;
use crate::dns::Dns;
use crate::server::Server;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY: usize = 64 << 20;

pub struct AgentApiService {
    server: Arc<Server>,
    router: axum::Router,
    dns: Arc<Dns>,
}

impl AgentApiService {
    pub fn new(server: Arc<Server>, router: axum::Router, dns: Arc<Dns>) -> agent_api_server::AgentApiServer<Self> {
        agent_api_server::AgentApiServer::new(AgentApiService { server, router, dns })
            .max_decoding_message_size(MAX_BODY)
    }
}

/// Agent-local paths belong to the client agent itself, except the member list.
fn forwardable(path: &str) -> bool {
    !path.starts_with("/v1/agent/") || path.starts_with("/v1/agent/members")
}

/// Only commands about the caller's own node.
fn own_node_command(node: &str, command: &Command) -> bool {
    match command {
        Command::CatalogSyncNode { node: n, services: _, checks }
        | Command::CatalogRegister { node: n, checks, .. } => n.name == node && checks.iter().all(|c| c.node == node),
        Command::CatalogDeregister { node: n, .. } => n == node,
        Command::Batch { commands } => commands.iter().all(|c| own_node_command(node, c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use tessera_proto::catalog::Node;

    use super::*;

    fn node(name: &str) -> Node {
        Node { name: name.into(), ..Node::default() }
    }

    #[test]
    fn agents_write_only_their_own_node() {
        let mine = Command::Batch {
            commands: vec![
                Command::CatalogRegister { node: node("c1"), service: None, checks: vec![] },
                Command::CatalogDeregister { node: "c1".into(), service_id: Some("x".into()), check_id: None },
            ],
        };
        assert!(own_node_command("c1", &mine));
        assert!(!own_node_command("c2", &mine));
        let kv = Command::KvSet { key: "k".into(), value: vec![], flags: 0, cas: None };
        assert!(!own_node_command("c1", &Command::Batch { commands: vec![kv] }));
    }
}

#[tonic::async_trait]
impl agent_api_server::AgentApi for AgentApiService {
    async fn forward(&self, request: Request<HttpRequest>) -> Result<Response<HttpResponse>, Status> {
        let call = request.into_inner();
        if !forwardable(&call.path_and_query) {
            return Err(Status::permission_denied(format!("{} is answered by the local agent", call.path_and_query)));
        }
        let http = axum::http::Request::builder()
            .method(call.method.as_str())
            .uri(call.path_and_query.as_str())
            .body(Body::from(call.body))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let answer = self.router.clone().oneshot(http).await.map_err(|e| Status::internal(e.to_string()))?;
        let status = answer.status().as_u16() as u32;
        let headers: HashMap<String, String> = answer
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body =
            axum::body::to_bytes(answer.into_body(), MAX_BODY).await.map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(HttpResponse { status, headers, body: body.to_vec() }))
    }

    async fn dns(&self, request: Request<DnsMessage>) -> Result<Response<DnsMessage>, Status> {
        let data = self
            .dns
            .respond(&request.into_inner().data)
            .ok_or_else(|| Status::invalid_argument("not a DNS message"))?;
        Ok(Response::new(DnsMessage { data }))
    }

    async fn heartbeat(&self, request: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        let node = request.into_inner().node;
        let server = &self.server;
        let delivered = server
            .on_leader(
                "heartbeat",
                || async {
                    server.liveness.heartbeat(&node);
                    Ok(())
                },
                |leader| {
                    let node = node.clone();
                    async move { forward::heartbeat(&server.pool, &leader, &node).await.map_err(forward::classify) }
                },
            )
            .await;
        delivered.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(HeartbeatResponse {}))
    }

    async fn sync(&self, request: Request<AgentWrite>) -> Result<Response<AgentWriteResponse>, Status> {
        let write = request.into_inner();
        let command =
            Command::decode(&write.command).map_err(|e| Status::invalid_argument(format!("bad command: {e}")))?;
        if !own_node_command(&write.node, &command) {
            return Err(Status::permission_denied(format!(
                "node {} may only write its own catalog entries",
                write.node
            )));
        }
        match self.server.write(command).await {
            Ok(_) => Ok(Response::new(AgentWriteResponse {})),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }
}
