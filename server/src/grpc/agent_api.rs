//! The AgentApi gRPC service: what client agents ask of servers. Their HTTP
//! API calls run through this server's own HTTP router, so both kinds of
//! agent answer alike.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use tessera_proto::v1::agent_api_server;
use tessera_proto::v1::AgentWrite;
use tessera_proto::v1::AgentWriteResponse;
use tessera_proto::v1::ConnectUpdate;
use tessera_proto::v1::DnsMessage;
use tessera_proto::v1::HeartbeatRequest;
use tessera_proto::v1::HeartbeatResponse;
use tessera_proto::v1::HttpRequest;
use tessera_proto::v1::HttpResponse;
use tessera_proto::v1::SignLeafRequest;
use tessera_proto::v1::SignLeafResponse;
use tessera_proto::v1::WatchConnectRequest;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tower::ServiceExt;

use crate::acl::caller::AclError;
use crate::acl::resolver::rules_for_secret;
use crate::acl::resolver::TokenResolver;
use crate::cluster::liveness::Liveness;
use crate::connect::ca::SigningState;
use crate::consensus::forward;
use crate::consensus::Server;
use crate::dns::Dns;
use crate::transport::peer::require_agent;
use crate::transport::send_or_stop;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_proto::v1::ResolveTokenRequest;
use tessera_proto::v1::ResolveTokenResponse;
use tessera_store::command::Command;
use tessera_store::Table;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY: usize = 64 << 20;

pub struct AgentApiService {
    server: Arc<Server>,
    /// The server's own resolver: client agents' tokens are checked with it.
    acl: Arc<dyn TokenResolver>,
    router: axum::Router,
    dns: Arc<Dns>,
    signing: Arc<SigningState>,
    liveness: Arc<Liveness>,
}

impl AgentApiService {
    pub fn new(
        (server, acl): (Arc<Server>, Arc<dyn TokenResolver>),
        router: axum::Router,
        dns: Arc<Dns>,
        signing: &Arc<SigningState>,
        liveness: &Arc<Liveness>,
    ) -> agent_api_server::AgentApiServer<Self> {
        let (signing, liveness) = (signing.clone(), liveness.clone());
        agent_api_server::AgentApiServer::new(AgentApiService { server, acl, router, dns, signing, liveness })
            .max_decoding_message_size(MAX_BODY)
    }
}

/// The token a call carries in its `x-consul-token` metadata.
pub fn metadata_token<T>(request: &Request<T>) -> Option<String> {
    let value = request.metadata().get(crate::transport::TOKEN_METADATA)?;
    value.to_str().ok().map(str::to_string).filter(|t| !t.is_empty())
}

/// An ACL refusal as a gRPC status, with Consul's text.
pub fn acl_status(e: AclError) -> Status {
    match e {
        AclError::NotFound | AclError::Denied(_) => Status::permission_denied(e.to_string()),
        AclError::Failed(_) => Status::internal(e.to_string()),
    }
}

impl AgentApiService {
    /// A client agent's own calls need its agent token to hold node:write
    /// on the node it speaks for (Consul's agent token).
    async fn require_node_write<T>(&self, request: &Request<T>, node: &str) -> Result<(), Status> {
        let token = metadata_token(request);
        let caller = self.acl.resolve(token.as_deref()).await.map_err(acl_status)?;
        caller.require(Resource::Node, node, Access::Write).map_err(acl_status)
    }
}

/// Agent-local paths belong to the client agent itself, except the member
/// list. Only origin-form targets (`/path?query`) are taken: an absolute URI
/// (`http://x/v1/agent/...`) would be routed by its path and reach this
/// server's own agent.
fn forwardable(target: &str) -> Option<axum::http::Uri> {
    let uri: axum::http::Uri = target.parse().ok()?;
    if uri.scheme().is_some() || uri.authority().is_some() || !target.starts_with('/') || target.starts_with("//") {
        return None;
    }
    let path = uri.path();
    (!path.starts_with("/v1/agent/") || path.starts_with("/v1/agent/members")).then_some(uri)
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

type ConnectStream = crate::transport::TaskStream<ConnectUpdate>;

/// Sends what is newer than the agent holds, then every change, until the
/// agent goes away.
async fn push_connect_updates(
    server: Arc<Server>,
    mut held: WatchConnectRequest,
    tx: tokio::sync::mpsc::Sender<Result<ConnectUpdate, Status>>,
) {
    let mut roots_changes = server.store.subscribe(Table::Roots);
    let mut intention_changes = server.store.subscribe(Table::Intentions);
    let mut acl_changes = server.store.subscribe(Table::Acl);
    let mut leader_check = tokio::time::interval(LEADERLESS_CHECK);
    let mut leaderless_ticks = 0;
    loop {
        roots_changes.borrow_and_update();
        intention_changes.borrow_and_update();
        acl_changes.borrow_and_update();
        let update = match crate::connect::update::connect_update(&server, &mut held) {
            Ok(update) => update,
            Err(e) => {
                send_or_stop(&tx, Err(Status::internal(e.to_string())), server.tasks.shutdown()).await;
                return;
            }
        };
        let changed = update.roots.is_some() || update.intentions.is_some() || update.acl_index != 0;
        if changed && !send_or_stop(&tx, Ok(update), server.tasks.shutdown()).await {
            return;
        }
        loop {
            tokio::select! {
                _ = server.tasks.shutdown().cancelled() => return,
                _ = tx.closed() => return,
                changed = roots_changes.changed() => if changed.is_err() { return } else { break },
                changed = intention_changes.changed() => if changed.is_err() { return } else { break },
                changed = acl_changes.changed() => if changed.is_err() { return } else { break },
                _ = leader_check.tick() => {}
            }
            // A server cut off from its quorum would keep serving a frozen
            // copy: a deny made on the majority side would never reach these
            // agents. Ending the stream makes them find another server.
            leaderless_ticks = if server.leader().is_some() { 0 } else { leaderless_ticks + 1 };
            if leaderless_ticks >= 2 {
                let leaderless = Status::unavailable("this server has no leader; try another");
                send_or_stop(&tx, Err(leaderless), server.tasks.shutdown()).await;
                return;
            }
        }
    }
}

/// How often a WatchConnect stream checks that its server still has a leader.
const LEADERLESS_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

#[tonic::async_trait]
impl agent_api_server::AgentApi for AgentApiService {
    type WatchConnectStream = ConnectStream;

    async fn watch_connect(&self, request: Request<WatchConnectRequest>) -> Result<Response<ConnectStream>, Status> {
        require_agent(&request, "AgentApi.WatchConnect")?;
        let (server, held) = (self.server.clone(), request.into_inner());
        let tasks = server.tasks.tracker().clone();
        Ok(Response::new(crate::transport::task_stream(&tasks, move |tx| push_connect_updates(server, held, tx))))
    }

    /// Any server takes the CSR; the caller's node must have the service.
    async fn sign_leaf(&self, request: Request<SignLeafRequest>) -> Result<Response<SignLeafResponse>, Status> {
        let speaker = require_agent(&request, "AgentApi.SignLeaf")?;
        if request.get_ref().caller_node.is_empty() {
            return Err(Status::invalid_argument("caller_node must name the client agent's node"));
        }
        speaker.may_speak_for(&request.get_ref().caller_node)?;
        self.require_node_write(&request, &request.get_ref().caller_node).await?;
        let request = request.into_inner();
        crate::connect::ca::sign(&self.server, &self.signing, &request.csr_pem, Some(&request.caller_node))
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn forward(&self, request: Request<HttpRequest>) -> Result<Response<HttpResponse>, Status> {
        require_agent(&request, "AgentApi.Forward")?;
        let call = request.into_inner();
        let token = (!call.token.is_empty()).then(|| axum::http::HeaderValue::from_str(&call.token)).transpose();
        let token = token.map_err(|_| Status::invalid_argument("the token is not a header value"))?;
        let Some(uri) = forwardable(&call.path_and_query) else {
            return Err(Status::permission_denied(format!("{} is answered by the local agent", call.path_and_query)));
        };
        let mut http = axum::http::Request::builder()
            .method(call.method.as_str())
            .uri(uri)
            .body(Body::from(call.body))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if let Some(token) = token {
            http.headers_mut().insert("x-consul-token", token);
        }
        let handled = self.router.clone().oneshot(http);
        let answer = match call.once_client {
            0 => handled.await,
            client => crate::consensus::once::as_forwarded(client, call.once_seq, handled).await,
        };
        let answer = answer.map_err(|e| Status::internal(e.to_string()))?;
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
        require_agent(&request, "AgentApi.Dns")?;
        // The client agent's default token, if it has one.
        let token = metadata_token(&request);
        let data = self
            .dns
            .respond(&request.into_inner().data, token.as_deref())
            .ok_or_else(|| Status::invalid_argument("not a DNS message"))?;
        Ok(Response::new(DnsMessage { data }))
    }

    async fn heartbeat(&self, request: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        let speaker = require_agent(&request, "AgentApi.Heartbeat")?;
        let node = request.into_inner().node;
        speaker.may_speak_for(&node)?;
        let server = &self.server;
        let delivered = server
            .on_leader(
                "heartbeat",
                || async {
                    self.liveness.heartbeat(&node);
                    Ok(())
                },
                |leader| {
                    let node = node.clone();
                    async move {
                        forward::heartbeat(&server.pool, &leader, &node)
                            .await
                            .map_err(crate::consensus::error::classify)
                    }
                },
            )
            .await;
        delivered.map_err(Status::from)?;
        Ok(Response::new(HeartbeatResponse {}))
    }

    /// The one agent call a caller without a certificate may make: it has
    /// the CA (it verified this server) and asks for its certificate.
    async fn auto_encrypt(
        &self,
        request: Request<tessera_proto::v1::AutoEncryptRequest>,
    ) -> Result<Response<tessera_proto::v1::AutoEncryptResponse>, Status> {
        // Consul's auto_encrypt: the agent token must hold node:write on the node.
        self.require_node_write(&request, &request.get_ref().node).await?;
        let ask = request.into_inner();
        let signed = crate::connect::agent_certs::sign_agent(
            &self.server,
            &self.signing,
            &ask.node,
            &ask.datacenter,
            &ask.csr_pem,
        );
        signed.map(Response::new).map_err(Status::from)
    }

    async fn sync(&self, request: Request<AgentWrite>) -> Result<Response<AgentWriteResponse>, Status> {
        let speaker = require_agent(&request, "AgentApi.Sync")?;
        let write = request.get_ref();
        speaker.may_speak_for(&write.node)?;
        self.require_node_write(&request, &write.node).await?;
        let write = request.into_inner();
        let command =
            Command::decode(&write.command).map_err(|e| Status::invalid_argument(format!("bad command: {e}")))?;
        command.check_limits().map_err(|e| Status::invalid_argument(format!("refused command: {e}")))?;
        if !own_node_command(&write.node, &command) {
            return Err(Status::permission_denied(format!(
                "node {} may only write its own catalog entries",
                write.node
            )));
        }
        self.server.write(command).await.map_err(Status::from)?;
        Ok(Response::new(AgentWriteResponse {}))
    }

    async fn resolve_token(
        &self,
        request: Request<ResolveTokenRequest>,
    ) -> Result<Response<ResolveTokenResponse>, Status> {
        require_agent(&request, "AgentApi.ResolveToken")?;
        let secret = request.into_inner().secret;
        let view = self.server.store.view();
        let found = rules_for_secret(&view, &secret, &self.server.config.datacenter)
            .map_err(|e| Status::internal(e.to_string()))?;
        let (token, rules) = found.ok_or_else(|| Status::not_found(ACL_NOT_FOUND))?;
        let expiration_time = token.expiration_time.unwrap_or_default();
        Ok(Response::new(ResolveTokenResponse { accessor_id: token.accessor_id, rules, expiration_time }))
    }
}

#[cfg(test)]
mod tests {
    use tessera_mesh::catalog::Node;

    use super::*;

    fn node(name: &str) -> Node {
        Node { name: name.into(), ..Node::default() }
    }

    #[test]
    fn only_origin_form_paths_outside_the_agent_are_forwarded() {
        assert!(forwardable("/v1/catalog/services?index=3").is_some());
        assert!(forwardable("/v1/agent/members").is_some());
        assert!(forwardable("/v1/agent/connect/ca/leaf/db").is_none());
        assert!(forwardable("http://x/v1/agent/connect/ca/leaf/db").is_none(), "absolute URIs are refused");
        assert!(forwardable("//x/v1/agent/self").is_none());
        assert!(forwardable("v1/catalog/services").is_none());
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
