//! What keeps a proxy (or a Connect-native app) current from its local
//! agent: the ProxyApi stream (leaf, roots, intentions, pushed on change)
//! and, per upstream, a blocking health query for the destination's healthy
//! Connect instances. `tessera connect proxy` feeds [`crate::run`] with
//! these; a native app feeds [`crate::NativeService`] the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::Value;
use tessera_mesh::connect::DefaultPolicy;
use tessera_mesh::connect::Intention;
use tessera_mesh::connect::ServiceIdentity;
use tessera_proto::convert::connect::default_policy_failing_closed;
use tessera_proto::convert::connect::intentions_failing_closed;
use tessera_proto::v1::proxy_api_client::ProxyApiClient;
use tessera_proto::v1::IntentionRecord;
use tessera_proto::v1::ProxyUpdate;
use tessera_proto::v1::WatchProxyRequest;

use crate::config::Endpoint;
use crate::config::Leaf;
use crate::config::ProxySnapshot;
use crate::config::Root;
use crate::config::Roots;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const RECONNECT: Duration = Duration::from_millis(500);
/// The first snapshot needs a signed leaf; the agent answers within a
/// second normally, longer only while servers elect a leader.
const FIRST_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

fn snapshot(update: ProxyUpdate) -> anyhow::Result<ProxySnapshot> {
    let leaf = update.leaf.ok_or_else(|| anyhow!("the agent sent no leaf"))?;
    let roots = update.roots.ok_or_else(|| anyhow!("the agent sent no roots"))?;
    let identity = ServiceIdentity::parse(&leaf.service_uri)?;
    let intentions = update.intentions.map(|i| i.intentions).unwrap_or_default();
    Ok(ProxySnapshot {
        identity,
        leaf: Leaf {
            cert_chain_pem: leaf.cert_pem,
            key_pem: leaf.private_key_pem,
            serial: leaf.serial,
            valid_before: leaf.valid_before,
        },
        roots: Roots {
            trust_domain: roots.trust_domain,
            active_root_id: roots.active_root_id,
            roots: roots.roots.into_iter().map(|r| Root { id: r.id, name: r.name, cert_pem: r.cert_pem }).collect(),
        },
        intentions: fail_closed_intentions(&intentions),
        default_policy: fail_closed_policy(&update.default_policy),
    })
}

fn fail_closed_intentions(records: &[IntentionRecord]) -> Vec<Intention> {
    let (intentions, unreadable) = intentions_failing_closed(records);
    for reason in unreadable {
        tracing::error!("{reason}");
    }
    intentions
}

fn fail_closed_policy(text: &str) -> DefaultPolicy {
    let (policy, unreadable) = default_policy_failing_closed(text);
    if let Some(reason) = unreadable {
        tracing::error!("{reason}");
    }
    policy
}

fn log_changes(previous: Option<&ProxySnapshot>, next: &ProxySnapshot) {
    if previous.is_none_or(|p| p.leaf.serial != next.leaf.serial) {
        tracing::info!("TLS Identity: {}", next.identity.uri());
    }
    if previous.is_none_or(|p| p.roots != next.roots) {
        let names: Vec<&str> = next.roots.roots.iter().map(|r| r.name.as_str()).collect();
        tracing::info!("TLS Roots   : [{}]", names.join(", "));
    }
}

/// Where the sidecar reaches its agent's gRPC: `host:port`, in plaintext
/// (the grpc port) or over TLS (the grpc_tls port) with this client config
/// and the name the agent's certificate must carry.
pub struct AgentGrpc {
    pub addr: String,
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls_pki_types::ServerName<'static>)>,
    /// The ACL token the stream presents: it needs service:write on the
    /// proxy's service before the agent hands out its leaf.
    pub token: Option<String>,
}

impl AgentGrpc {
    fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        let channel = match &self.tls {
            None => tessera_proto::transport::ChannelPool::default().channel(&self.addr),
            Some((config, name)) => tessera_proto::transport::tls_channel(&self.addr, config.clone(), name.clone()),
        };
        channel.map_err(|e| anyhow!("-grpc-addr: {e}"))
    }
}

/// Opens the stream, waits for the first complete snapshot, then keeps the
/// watch current (reconnecting to the agent if it restarts).
pub async fn snapshots(
    agent: &AgentGrpc,
    service: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<ProxySnapshot>> {
    let (channel, grpc_addr) = (agent.channel()?, &agent.addr);
    let client = ProxyApiClient::new(channel).max_decoding_message_size(64 << 20);
    let request = WatchProxyRequest { service: service.to_string() };
    let request = Watch { message: request, token: agent.token.clone() };
    let first =
        tokio::time::timeout(FIRST_SNAPSHOT_TIMEOUT, first_snapshot(client.clone(), request.clone()))
            .await
            .map_err(|_| anyhow!("no certificate from the agent at {grpc_addr} within {FIRST_SNAPSHOT_TIMEOUT:?}"))??;
    let (first, stream) = first;
    log_changes(None, &first);
    let (tx, rx) = watch::channel(first);
    tokio::spawn(follow(client, request, stream, tx, shutdown));
    Ok(rx)
}

type UpdateStream = tonic::Streaming<ProxyUpdate>;

/// The stream's request with the token it presents, to open it again.
#[derive(Clone)]
struct Watch {
    message: WatchProxyRequest,
    token: Option<String>,
}

impl Watch {
    fn request(&self) -> tonic::Request<WatchProxyRequest> {
        tessera_proto::transport::with_token(tonic::Request::new(self.message.clone()), self.token.as_deref())
    }
}

async fn first_snapshot(
    mut client: ProxyApiClient<tonic::transport::Channel>,
    request: Watch,
) -> anyhow::Result<(ProxySnapshot, UpdateStream)> {
    let mut stream = client
        .watch_proxy(request.request())
        .await
        .map_err(|s| anyhow!("cannot reach the agent's gRPC port: {}", s.message()))?
        .into_inner();
    let update = stream.message().await?.ok_or_else(|| anyhow!("the agent closed the stream"))?;
    Ok((snapshot(update)?, stream))
}

async fn follow(
    mut client: ProxyApiClient<tonic::transport::Channel>,
    request: Watch,
    mut stream: UpdateStream,
    tx: watch::Sender<ProxySnapshot>,
    shutdown: CancellationToken,
) {
    loop {
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return,
                message = stream.message() => message,
            };
            match message.map_err(|s| anyhow!(s.message().to_string())).and_then(|m| m.ok_or_else(|| anyhow!("closed")))
            {
                Ok(update) => match snapshot(update) {
                    Ok(next) => {
                        log_changes(Some(&tx.borrow()), &next);
                        tx.send_replace(next);
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring an incomplete update from the agent"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "lost the agent's stream; reconnecting");
                    break;
                }
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RECONNECT) => {}
            }
            match client.watch_proxy(request.request()).await {
                Ok(response) => {
                    stream = response.into_inner();
                    break;
                }
                Err(status) => tracing::debug!(error = %status.message(), "agent not reachable yet"),
            }
        }
    }
}

/// Healthy instances of `destination`'s sidecars and native instances.
/// Addresses are IPs in the catalog as a rule; a host name is resolved
/// without blocking the traffic thread.
async fn parse_endpoints(destination: &str, entries: &[Value]) -> Vec<Endpoint> {
    let mut found = Vec::new();
    for entry in entries {
        let service = &entry["Service"];
        let address = service["Address"].as_str().filter(|a| !a.is_empty()).or(entry["Node"]["Address"].as_str());
        let (Some(address), Some(port)) = (address, service["Port"].as_u64()) else { continue };
        let addr = match address.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(SocketAddr::new(ip, port as u16)),
            Err(_) => tokio::net::lookup_host((address, port as u16)).await.ok().and_then(|mut a| a.next()),
        };
        match addr {
            Some(addr) => found.push(Endpoint { addr, service: destination.to_string() }),
            None => tracing::warn!(upstream = %destination, address, "cannot resolve an instance's address"),
        }
    }
    found
}

/// A blocking query loop on the agent's
/// `/v1/health/connect/<destination>?passing`, through `http` (the caller's
/// client, with its TLS settings) at `base` (`http(s)://host:port`).
pub fn endpoints(
    http: reqwest::Client,
    base: &str,
    destination: String,
    shutdown: CancellationToken,
) -> watch::Receiver<Vec<Endpoint>> {
    let (tx, rx) = watch::channel(Vec::new());
    let base = base.trim_end_matches('/').to_string();
    tokio::spawn(async move {
        let mut index = 0u64;
        loop {
            let url = format!("{base}/v1/health/connect/{destination}?passing&index={index}&wait=5m");
            let answer = tokio::select! {
                _ = shutdown.cancelled() => return,
                answer = health(&http, &url) => answer,
            };
            match answer {
                Ok((entries, next)) => {
                    let found = parse_endpoints(&destination, &entries).await;
                    tx.send_if_modified(|held| {
                        let changed = *held != found;
                        *held = found;
                        changed
                    });
                    // An index that goes back (a server restored a snapshot) restarts the watch.
                    index = if next < index { 0 } else { next };
                }
                Err(e) => {
                    tracing::warn!(error = %e, upstream = %destination, "cannot list upstream instances");
                    tokio::time::sleep(RECONNECT).await;
                }
            }
        }
    });
    rx
}

async fn health(http: &reqwest::Client, url: &str) -> anyhow::Result<(Vec<Value>, u64)> {
    let response = http.get(url).send().await?;
    let index = response
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("{status}: {}", response.text().await.unwrap_or_default());
    }
    Ok((response.json().await?, index))
}

#[cfg(test)]
mod tests {
    use tessera_proto::v1::CaRoots;
    use tessera_proto::v1::Intentions;
    use tessera_proto::v1::LeafCert;

    use super::*;

    fn update(default_policy: &str, actions: &[(&str, &str, &str)]) -> ProxyUpdate {
        let record = |(source, destination, action): &(&str, &str, &str)| IntentionRecord {
            source: source.to_string(),
            destination: destination.to_string(),
            action: action.to_string(),
            ..IntentionRecord::default()
        };
        ProxyUpdate {
            leaf: Some(LeafCert {
                service_uri: "spiffe://c.consul/ns/default/dc/dc1/svc/db".into(),
                ..LeafCert::default()
            }),
            roots: Some(CaRoots::default()),
            intentions: Some(Intentions { index: 1, intentions: actions.iter().map(record).collect() }),
            default_policy: default_policy.into(),
        }
    }

    fn allowed(snapshot: &ProxySnapshot, source: &str) -> bool {
        tessera_mesh::connect::intention::evaluate(&snapshot.intentions, source, "db", snapshot.default_policy).allowed
    }

    #[test]
    fn a_default_policy_the_sidecar_cannot_read_denies() {
        for unreadable in ["", "permit", "ALLOW "] {
            let snapshot = snapshot(update(unreadable, &[])).unwrap();
            assert_eq!(snapshot.default_policy, DefaultPolicy::Deny, "{unreadable:?}");
        }
        assert_eq!(snapshot(update("allow", &[])).unwrap().default_policy, DefaultPolicy::Allow);
    }

    #[test]
    fn an_intention_the_sidecar_cannot_read_denies_its_pair() {
        let snapshot = snapshot(update("allow", &[("*", "db", "allow"), ("web", "db", "maybe")])).unwrap();
        assert!(!allowed(&snapshot, "web"), "the unreadable web => db must deny, not fall through to * => db");
        assert!(allowed(&snapshot, "api"));
    }
}
