//! `tessera connect proxy`: the built-in sidecar. Its listener layout comes
//! from the local agent's registration of the sidecar (`-sidecar-for`,
//! `-proxy-id`) or from flags (`-service`, `-upstream`, `-listen`); its
//! certificates and intentions come pushed from the agent
//! (`tessera_proxy::agent`); the data path is the `tessera-proxy` crate.

mod agent_grpc;
mod layout;

use std::collections::HashMap;

use clap::Args;
use tessera_proxy::config::ProxyConfig;
use tokio_util::sync::CancellationToken;

use crate::cmd::HttpFlags;

#[derive(Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub http: HttpFlags,
    /// The ID of the service whose sidecar this is (its connect-proxy registration is used).
    #[arg(long = "sidecar-for", env = "CONNECT_SIDECAR_FOR", value_name = "ID")]
    pub sidecar_for: Option<String>,
    /// The ID of the connect-proxy service registration to run.
    #[arg(long = "proxy-id", env = "CONNECT_PROXY_ID", value_name = "ID")]
    pub proxy_id: Option<String>,
    /// The service whose identity the proxy takes (flags mode).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// NAME:PORT or NAME:HOST:PORT, a local listener for that service (repeatable).
    #[arg(long = "upstream", value_name = "NAME:PORT")]
    pub upstreams: Vec<String>,
    /// HOST:PORT of the public mTLS listener (flags mode; needs -service-addr).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// HOST:PORT of the local application (flags mode).
    #[arg(long = "service-addr", value_name = "HOST:PORT")]
    pub service_addr: Option<String>,
    /// Register the proxy with the local agent (flags mode; done anyway on a
    /// client agent, where the registration is what lets the proxy take its
    /// service's identity).
    #[arg(long)]
    pub register: bool,
    /// Suffix of the registered proxy's ID.
    #[arg(long = "register-id", value_name = "ID")]
    pub register_id: Option<String>,
    /// The local agent's gRPC address (also CONSUL_GRPC_ADDR); https://HOST:PORT
    /// for its gRPC TLS port (grpc_tls, 8503 in Consul's examples).
    #[arg(long = "grpc-addr", env = "CONSUL_GRPC_ADDR", value_name = "ADDR", default_value = "127.0.0.1:8502")]
    pub grpc_addr: String,
    /// PEM file of the CA the agent's gRPC TLS certificate is checked
    /// against (also CONSUL_GRPC_CACERT; else -ca-file / CONSUL_CACERT).
    #[arg(long = "grpc-ca-file", env = "CONSUL_GRPC_CACERT", value_name = "FILE")]
    pub grpc_ca_file: Option<String>,
    /// Directory of PEM CA certificates for gRPC TLS (also CONSUL_GRPC_CAPATH).
    #[arg(long = "grpc-ca-path", env = "CONSUL_GRPC_CAPATH", value_name = "DIR")]
    pub grpc_ca_path: Option<String>,
    /// Close open connections that an intention change denies (Consul keeps them: -close-denied=false).
    #[arg(long = "close-denied", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    pub close_denied: bool,
    /// Close a relayed connection that carried no byte either way for this
    /// long (a Go duration: 30m, 1h). Off by default, as in Consul's proxy:
    /// idle database pools and websockets are legitimate; 0 is off too.
    #[arg(long = "idle-timeout", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// HOST:PORT to serve Prometheus metrics on (/metrics); off if not given.
    #[arg(long = "metrics-addr", value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Threads carrying traffic. One, as linkerd2-proxy does by default: a
    /// sidecar should not take the cores of the service beside it.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// trace, debug, info, warn or err.
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
}

pub async fn run(args: ProxyArgs) -> u8 {
    if let Err(e) = crate::cmd::agent::init_logging(&args.log_level) {
        eprintln!("==> {e}");
        return 1;
    }
    match run_proxy(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("==> {e:#}");
            1
        }
    }
}

async fn run_proxy(args: ProxyArgs) -> anyhow::Result<()> {
    let client = crate::client::Client::new(&args.http)?;
    let layout = layout::resolve(&args, &client).await?;
    layout.print_banner();
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::cmd::agent::watch_signals(shutdown.clone()));
    let registration = match layout::needs_registration(&layout, &args, &client).await? {
        true => Some(layout::register(&layout, &args, &client).await?),
        false => None,
    };
    let agent = agent_grpc::target(&args, client.token())?;
    let snapshots = tessera_proxy::agent::snapshots(&agent, &layout.service, shutdown.clone()).await?;
    let mut endpoints = HashMap::new();
    for upstream in &layout.config.upstreams {
        // The CLI's own client: the upstream watches reach the agent with
        // the same address and TLS settings as every other call.
        let (http, base) = (client.http().clone(), client.base());
        let rx = tessera_proxy::agent::endpoints(http, base, upstream.destination_name.clone(), shutdown.clone());
        endpoints.insert(upstream.destination_name.clone(), rx);
    }
    let config: ProxyConfig = layout.config.clone();
    let outcome = tessera_proxy::run(config, snapshots, endpoints, shutdown.clone()).await;
    if let Some(id) = registration {
        layout::deregister(&client, &id).await;
    }
    outcome
}
