//! The ProxyApi gRPC service on the agent's gRPC port: one stream per local
//! proxy carrying its leaf, the roots and the intentions that concern its
//! service, re-sent whole whenever any of them changes.

use std::sync::Arc;

use tessera_mesh::connect::intention;
use tessera_proto::v1::proxy_api_server;
use tessera_proto::v1::IntentionRecord;
use tessera_proto::v1::Intentions;
use tessera_proto::v1::LeafCert;
use tessera_proto::v1::ProxyUpdate;
use tessera_proto::v1::WatchProxyRequest;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use crate::acl::resolver::TokenResolver;
use crate::agent::connect::leaf::LeafView;
use crate::agent::connect::AgentConnect;
use crate::agent::connect::IntentionSet;
use crate::agent::connect::LeafError;
use crate::grpc::agent_api::acl_status;
use crate::transport::send_or_stop;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

pub struct ProxyApiService {
    connect: Arc<AgentConnect>,
    acl: Arc<dyn TokenResolver>,
}

impl ProxyApiService {
    pub fn new(connect: Arc<AgentConnect>, acl: Arc<dyn TokenResolver>) -> proxy_api_server::ProxyApiServer<Self> {
        proxy_api_server::ProxyApiServer::new(ProxyApiService { connect, acl })
    }

    /// A proxy takes its service's identity only with service:write on it,
    /// checked before a leaf is asked for (Consul's leaf endpoint rule).
    async fn require_identity(&self, request: &Request<WatchProxyRequest>) -> Result<(), Status> {
        let token = crate::grpc::agent_api::metadata_token(request);
        may_take(&*self.acl, token.as_deref(), &request.get_ref().service).await
    }
}

/// Whether the holder of `token` may take `service`'s identity.
async fn may_take(acl: &dyn TokenResolver, token: Option<&str>, service: &str) -> Result<(), Status> {
    let caller = acl.resolve(token).await.map_err(acl_status)?;
    caller.require(Resource::Service, service, Access::Write).map_err(acl_status)
}

/// The next ACL change, or never when there are none to follow.
async fn acl_changed(changes: &mut Option<tokio::sync::watch::Receiver<u64>>) -> bool {
    match changes {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

fn leaf_message(leaf: &LeafView) -> LeafCert {
    LeafCert {
        cert_pem: leaf.cert_pem.clone(),
        private_key_pem: leaf.private_key_pem.clone(),
        serial: leaf.serial.clone(),
        service_uri: leaf.service_uri.clone(),
        valid_after: leaf.valid_after,
        valid_before: leaf.valid_before,
        modify_index: leaf.modify_index,
    }
}

/// Only the intentions that can decide connections to `service`.
fn intentions_for(set: &IntentionSet, service: &str) -> Intentions {
    let intentions = set
        .intentions
        .iter()
        .filter(|i| intention::name_matches(&i.destination, service))
        .map(IntentionRecord::from)
        .collect();
    Intentions { index: set.index, intentions }
}

type UpdateStream = crate::transport::TaskStream<ProxyUpdate>;

#[tonic::async_trait]
impl proxy_api_server::ProxyApi for ProxyApiService {
    type WatchProxyStream = UpdateStream;

    async fn watch_proxy(&self, request: Request<WatchProxyRequest>) -> Result<Response<UpdateStream>, Status> {
        if request.get_ref().service.is_empty() {
            return Err(Status::invalid_argument("service must be given"));
        }
        self.require_identity(&request).await?;
        // Kept to check again on every ACL change: a deleted or changed
        // token ends the stream, so the proxy gets no renewed leaf.
        let (acl, token) = (self.acl.clone(), crate::grpc::agent_api::metadata_token(&request));
        let mut acl_changes = acl.changes();
        let service = request.into_inner().service;
        let connect = self.connect.clone();
        let mut leaf = connect.leaf(&service).map_err(|e| match e {
            LeafError::Refused(reason) => Status::permission_denied(format!("no certificate for {service}: {reason}")),
            full @ LeafError::Full(_) => Status::resource_exhausted(full.to_string()),
        })?;
        let refused = |connect: &AgentConnect, service: &str| {
            let reason = connect.refusal(service).unwrap_or_else(|| "the agent is stopping".into());
            Err(Status::permission_denied(format!("no certificate for {service}: {reason}")))
        };
        let mut roots = connect.roots();
        let mut intentions = connect.intentions();
        let default_policy = connect.default_policy().to_string();
        let tasks = connect.tasks().clone();
        let shutdown = tasks.shutdown().clone();
        let stream = crate::transport::task_stream(tasks.tracker(), move |tx| async move {
            loop {
                let current_leaf = leaf.borrow_and_update().clone();
                let current_roots = roots.borrow_and_update().clone();
                let current_intentions = intentions.borrow_and_update().clone();
                if let (Some(l), Some(r)) = (current_leaf, current_roots) {
                    let update = ProxyUpdate {
                        leaf: Some(leaf_message(&l)),
                        roots: Some((*r).clone()),
                        intentions: Some(intentions_for(&current_intentions, &service)),
                        default_policy: default_policy.clone(),
                    };
                    if !send_or_stop(&tx, Ok(update), &shutdown).await {
                        return;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tx.closed() => return,
                    changed = leaf.changed() => if changed.is_err() {
                        send_or_stop(&tx, refused(&connect, &service), &shutdown).await;
                        return;
                    },
                    changed = roots.changed() => if changed.is_err() { return },
                    changed = intentions.changed() => if changed.is_err() { return },
                    alive = acl_changed(&mut acl_changes) => {
                        if !alive {
                            return;
                        }
                        if let Err(denied) = may_take(&*acl, token.as_deref(), &service).await {
                            send_or_stop(&tx, Err(denied), &shutdown).await;
                            return;
                        }
                    },
                }
            }
        });
        Ok(Response::new(stream))
    }
}
