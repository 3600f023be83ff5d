//! The per-address counters of one agent's listeners, made once per run
//! from [`Limits`] and handed to each listener as it is spawned. HTTP and
//! HTTPS share one counter (Consul's single `httpConnLimiter`); the
//! server port has its own; the agent's gRPC ports (plain and TLS) share
//! one; DNS over TCP has its own.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Limits;
use crate::transport::accept;
use crate::transport::conn_limit::PerAddress;

/// What an HTTP client over the limit reads before the connection closes,
/// in Consul's words (its connlimit's 429 handler).
const HTTP_429: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 81\r\n\
Connection: close\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n";

#[derive(Debug, Clone)]
pub struct ListenerLimits {
    pub config: Limits,
    http: Arc<PerAddress>,
    server_port: Arc<PerAddress>,
    agent_grpc: Arc<PerAddress>,
    dns: Arc<PerAddress>,
}

impl ListenerLimits {
    pub fn new(config: &Limits) -> ListenerLimits {
        let (http, rpc) = ("limits.http_max_conns_per_client", "limits.rpc_max_conns_per_client");
        ListenerLimits {
            config: config.clone(),
            http: PerAddress::new("HTTP API", http, config.http_max_conns_per_client),
            server_port: PerAddress::new("server port", rpc, config.rpc_max_conns_per_client),
            agent_grpc: PerAddress::new("agent gRPC", rpc, config.rpc_max_conns_per_client),
            dns: PerAddress::new("DNS (TCP)", "dns_max_conns_per_client", config.dns_max_conns_per_client),
        }
    }

    /// The plain HTTP port: refused connections read Consul's 429 (nothing
    /// else was sent on them yet, so a client sees a proper answer). Its
    /// handshake is immediate; the timeout is the one HTTPS inherits.
    pub fn http(&self) -> accept::Limits {
        accept::Limits {
            per_address: self.http.clone(),
            handshake_timeout: self.config.https_handshake_timeout,
            refusal: Some(HTTP_429),
        }
    }

    /// The HTTPS port: the same counter; a refused connection is closed
    /// before its TLS handshake, so no answer can be read on it.
    pub fn https(&self) -> accept::Limits {
        accept::Limits { refusal: None, ..self.http() }
    }

    pub fn server_port(&self) -> accept::Limits {
        self.rpc(&self.server_port)
    }

    pub fn agent_grpc(&self) -> accept::Limits {
        self.rpc(&self.agent_grpc)
    }

    fn rpc(&self, counter: &Arc<PerAddress>) -> accept::Limits {
        accept::Limits {
            per_address: counter.clone(),
            handshake_timeout: self.config.rpc_handshake_timeout,
            refusal: None,
        }
    }

    /// DNS over TCP has no handshake; its idle timeout bounds a silent client.
    pub fn dns(&self) -> accept::Limits {
        accept::Limits { per_address: self.dns.clone(), handshake_timeout: Duration::ZERO, refusal: None }
    }
}
