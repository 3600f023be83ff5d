//! Where the proxy listens and what it forwards to: read from the agent's
//! registration of the sidecar, or from flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::net::ToSocketAddrs;
use std::time::Duration;

use anyhow::anyhow;
use anyhow::bail;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;
use tessera_mesh::api::catalog as api;
use tessera_mesh::api::catalog::OwnedAgentService;
use tessera_proxy::config::ProxyConfig;
use tessera_proxy::config::PublicListener;
use tessera_proxy::config::Upstream;

use crate::client::Client;
use crate::cmd::proxy::ProxyArgs;

pub struct Layout {
    /// The service whose identity the proxy takes.
    pub service: String,
    pub mode: Mode,
    pub config: ProxyConfig,
}

pub enum Mode {
    Agent { sidecar_for: Option<String>, proxy_id: String },
    Flags,
}

pub async fn resolve(args: &ProxyArgs, client: &Client) -> anyhow::Result<Layout> {
    let base = ProxyConfig {
        close_denied: args.close_denied,
        metrics_bind: args.metrics_addr.as_deref().map(|a| socket_addr("-metrics-addr", a)).transpose()?,
        idle_timeout: idle_timeout(args.idle_timeout.as_deref())?,
        ..ProxyConfig::default()
    };
    if let Some(id) = &args.sidecar_for {
        let proxy = find_sidecar(client, id).await?;
        return from_registration(proxy, Some(id.clone()), base);
    }
    if let Some(id) = &args.proxy_id {
        let proxy: OwnedAgentService = client.get(&format!("/v1/agent/service/{id}")).await?.json()?;
        return from_registration(proxy, None, base);
    }
    from_flags(args, base)
}

/// The one connect-proxy of the local agent whose destination is `id`.
async fn find_sidecar(client: &Client, id: &str) -> anyhow::Result<OwnedAgentService> {
    let services: BTreeMap<String, OwnedAgentService> = client.get("/v1/agent/services").await?.json()?;
    let mut sidecars: Vec<OwnedAgentService> = services
        .into_values()
        .filter(|s| {
            s.kind.as_deref() == Some("connect-proxy")
                && s.proxy.as_ref().is_some_and(|p| p.destination_service_id == id)
        })
        .collect();
    match sidecars.len() {
        0 => bail!("No sidecar proxy registered for {id}"),
        1 => Ok(sidecars.remove(0)),
        n => bail!("{n} sidecar proxies are registered for {id}; use -proxy-id to choose one"),
    }
}

/// `-idle-timeout`: a Go duration; absent or zero is off.
fn idle_timeout(flag: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let Some(text) = flag else { return Ok(None) };
    let timeout = tessera_mesh::catalog::duration::go::parse(text).map_err(|e| anyhow!("-idle-timeout: {e}"))?;
    Ok((!timeout.is_zero()).then_some(timeout))
}

fn millis(config: &api::Config, key: &str) -> Option<Duration> {
    config.get(key).and_then(Value::as_u64).map(Duration::from_millis)
}

fn from_registration(
    proxy: OwnedAgentService,
    sidecar_for: Option<String>,
    mut config: ProxyConfig,
) -> anyhow::Result<Layout> {
    let settings = proxy
        .proxy
        .as_ref()
        .filter(|p| !p.destination_service_name.is_empty())
        .ok_or_else(|| anyhow!("the proxy registration has no Proxy.DestinationServiceName"))?;
    let service = settings.destination_service_name.to_string();
    let proxy_id = proxy.id.to_string();
    if proxy.port > 0 {
        let address = Some(&*proxy.address).filter(|a| !a.is_empty()).unwrap_or("0.0.0.0");
        let local_address = Some(&*settings.local_service_address).filter(|a| !a.is_empty()).unwrap_or("127.0.0.1");
        let local_port = settings.local_service_port;
        let mut listener = PublicListener::new(
            socket_addr("Address:Port", &format!("{address}:{}", proxy.port))?,
            socket_addr("LocalServiceAddress:LocalServicePort", &format!("{local_address}:{local_port}"))?,
        );
        let extra = &settings.config;
        listener.local_connect_timeout =
            millis(extra, "local_connect_timeout_ms").unwrap_or(listener.local_connect_timeout);
        listener.handshake_timeout = millis(extra, "handshake_timeout_ms").unwrap_or(listener.handshake_timeout);
        config.public_listener = Some(listener);
    }
    for upstream in &settings.upstreams {
        config.upstreams.push(upstream_from_registration(upstream)?);
    }
    Ok(Layout { service, mode: Mode::Agent { sidecar_for, proxy_id }, config })
}

fn upstream_from_registration(u: &api::Upstream<'_>) -> anyhow::Result<Upstream> {
    let name = &*u.destination_name;
    let address = Some(&*u.local_bind_address).filter(|a| !a.is_empty()).unwrap_or("127.0.0.1");
    let bind = format!("{address}:{}", u.local_bind_port);
    let mut upstream = Upstream::new(name, socket_addr("LocalBindAddress", &bind)?);
    if let Some(timeout) = millis(&u.config, "connect_timeout_ms") {
        upstream.connect_timeout = timeout;
    }
    Ok(upstream)
}

fn from_flags(args: &ProxyArgs, mut config: ProxyConfig) -> anyhow::Result<Layout> {
    let service =
        args.service.clone().ok_or_else(|| anyhow!("one of -sidecar-for, -proxy-id or -service must be given"))?;
    for spec in &args.upstreams {
        config.upstreams.push(upstream_from_flag(spec)?);
    }
    if let Some(listen) = &args.listen {
        let app = args.service_addr.as_deref().ok_or_else(|| anyhow!("-listen needs -service-addr"))?;
        config.public_listener =
            Some(PublicListener::new(socket_addr("-listen", listen)?, socket_addr("-service-addr", app)?));
    }
    Ok(Layout { service, mode: Mode::Flags, config })
}

/// `name:port` (on 127.0.0.1) or `name:host:port`.
fn upstream_from_flag(spec: &str) -> anyhow::Result<Upstream> {
    let bad = || anyhow!("-upstream {spec:?}: expected NAME:PORT or NAME:HOST:PORT");
    let (name, rest) = spec.split_once(':').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let addr = if rest.contains(':') { rest.to_string() } else { format!("127.0.0.1:{rest}") };
    Ok(Upstream::new(name, socket_addr("-upstream", &addr).map_err(|_| bad())?))
}

fn socket_addr(what: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| anyhow!("{what}: {text:?} is not a host:port address"))
}

impl Layout {
    /// Consul's startup banner.
    pub fn print_banner(&self) {
        println!("==> Tessera Connect proxy starting...");
        match &self.mode {
            Mode::Agent { sidecar_for, proxy_id } => {
                println!("    Configuration mode: Agent API");
                if let Some(id) = sidecar_for {
                    println!("        Sidecar for ID: {id}");
                }
                println!("              Proxy ID: {proxy_id}");
            }
            Mode::Flags => {
                println!("    Configuration mode: Flags");
                println!("               Service: {}", self.service);
                for u in &self.config.upstreams {
                    let port = u.local_bind.port();
                    let shown =
                        if u.local_bind.ip().is_loopback() { format!(":{port}") } else { u.local_bind.to_string() };
                    println!("              Upstream: {} => {shown}", u.destination_name);
                }
                match &self.config.public_listener {
                    Some(l) => println!("       Public listener: {} => {}", l.bind, l.local_app),
                    None => println!("       Public listener: Disabled"),
                }
            }
        }
        println!();
        println!("==> Log data will now stream in as it occurs:");
        println!();
    }
}

const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// `-register`: a `<service>-proxy` connect-proxy registration with a TTL
/// check kept passing while the proxy runs. Without a public listener it
/// has no port: it only tells the servers that this node runs a proxy for
/// the service, which a client agent needs to obtain the service's
/// certificate (and which no one can connect to). Returns its ID.
pub async fn register(layout: &Layout, args: &ProxyArgs, client: &Client) -> anyhow::Result<String> {
    let id = match &args.register_id {
        Some(suffix) => format!("{}-proxy-{suffix}", layout.service),
        None => format!("{}-proxy", layout.service),
    };
    let mut body = json!({
        "ID": id, "Name": format!("{}-proxy", layout.service), "Kind": "connect-proxy",
        "Proxy": {"DestinationServiceName": layout.service},
        "Check": {"CheckID": format!("{id}-ttl"), "Name": "proxy heartbeat", "TTL": "30s"},
    });
    if let Some(listener) = &layout.config.public_listener {
        body["Address"] = json!(listener.bind.ip().to_string());
        body["Port"] = json!(listener.bind.port());
        body["Proxy"]["LocalServiceAddress"] = json!(listener.local_app.ip().to_string());
        body["Proxy"]["LocalServicePort"] = json!(listener.local_app.port());
    }
    let reply = client.call(Method::PUT, "/v1/agent/service/register", Some(serde_json::to_vec(&body)?)).await?;
    if !reply.status.is_success() {
        bail!("registering {id}: {}", reply.text());
    }
    let (heartbeat_client, check) = (client.clone(), format!("{id}-ttl"));
    tokio::spawn(async move {
        loop {
            let path = format!("/v1/agent/check/pass/{check}");
            if let Err(e) = heartbeat_client.call(Method::PUT, &path, None).await {
                tracing::warn!(error = %e, "proxy heartbeat not delivered");
            }
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    });
    Ok(id)
}

/// Whether a flags-mode proxy must register to get its certificate: a
/// client agent may only obtain identities of services (or proxies)
/// registered on it; a server's agent may obtain any.
pub async fn needs_registration(layout: &Layout, args: &ProxyArgs, client: &Client) -> anyhow::Result<bool> {
    if args.register || !matches!(layout.mode, Mode::Flags) {
        return Ok(args.register);
    }
    let me: Value = client.get("/v1/agent/self").await?.json()?;
    Ok(me["Config"]["Server"] == false)
}

pub async fn deregister(client: &Client, id: &str) {
    if let Err(e) = client.call(Method::PUT, &format!("/v1/agent/service/deregister/{id}"), None).await {
        tracing::warn!(error = %e, "could not deregister the proxy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_flags() {
        let u = upstream_from_flag("socat:9191").unwrap();
        assert_eq!((u.destination_name.as_str(), u.local_bind.to_string().as_str()), ("socat", "127.0.0.1:9191"));
        let u = upstream_from_flag("db:127.0.0.9:5432").unwrap();
        assert_eq!(u.local_bind.to_string(), "127.0.0.9:5432");
        assert!(upstream_from_flag("socat").is_err());
        assert!(upstream_from_flag(":9191").is_err());
    }
}
